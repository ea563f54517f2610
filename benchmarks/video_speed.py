"""Video speed and memory: frames/s and peak RSS of the video jobs on 1280x720 clips.

    .venv/bin/python benchmarks/video_speed.py [--seconds 10 60] [--fps 25]
        [--jobs mosaic,tracked,restore,restore-find] [--size 1280x720] [--preset medium]
        [--crf 18] [--batch 8] [--keep DIR]

Clips are made in a temporary folder with PyAV: a photo panned across the frame, a
440 Hz AAC track, and (for the restore jobs) a 16-px mosaic over a box covering 10 % of
the frame. Each job runs on each clip in a fresh subprocess, which reports its frames/s,
its peak resident memory (VmHWM) and its resident memory at the end (VmRSS): streaming
means neither grows with the clip's length (the peak varies by a few % from run to run
with the largest transient allocation: x264's lookahead, a generator call).

Jobs:
  mosaic        mosaic_video with a fixed box (10 % of the frame)
  tracked       mosaic_video with a region_fn (a stand-in detector returning that box) and
                the RegionTracker: the cost of tracking without a real detector's cost
  restore       restore_video with the mask given; a small untrained U-Net
                (Pix2PixConfig(size=256, ngf=16)) and the real NudeNet safety gate
  restore-find  restore_video finding the mosaics itself (followed from frame to frame)
  shipped       restore_video with the shipped model, finding the mosaics itself...
  shipped-search-all  ...and the same with find-mosaic searching every whole frame (the
                baseline: no following)

``--mosaic-scale 1.5`` makes each mosaiced frame 1.5 times larger (a 1080p frame for a
720p clip), mosaics it there (block 16) and shrinks it to the clip's size (INTER_AREA):
a 1080p video mosaiced and then transcoded to 720p, cells of 10.67 px. The restore jobs
report the frames where a mosaic was found (restored, or kept mosaiced because the gate
refused its track: the clip pans over the astronaut, whose face the mosaic hides in some
frames), those restored, and the PSNR inside the mosaic against the clean clip (the same
pan without the mosaic).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, machine_line, table, wait_for_quiet

JOBS = ("mosaic", "tracked", "restore", "restore-find", "shipped", "shipped-search-all")


def region_box(width: int, height: int) -> tuple[int, int, int, int]:
    """A centred box covering 10 % of the frame, with the frame's aspect ratio."""
    w, h = round(width * 0.1 ** 0.5), round(height * 0.1 ** 0.5)
    return (width - w) // 2 // 16 * 16, (height - h) // 2 // 16 * 16, w, h


def make_clip(path: Path, seconds: float, fps: int, width: int, height: int,
              mosaic: bool, mosaic_scale: float = 1.0) -> Path:
    """Write a clip: a photo panned across the frame, AAC audio, optionally a mosaic box
    (made on the frame enlarged by ``mosaic_scale``, then shrunk back)."""
    import av
    import cv2
    import skimage.data

    from mosaicgan.api import mosaic_image
    from mosaicgan.regions.masks import box_mask

    photo = cv2.resize(skimage.data.astronaut(), (width * 2, height * 2),
                       interpolation=cv2.INTER_CUBIC)
    mask = box_mask(height, width, region_box(width, height))
    n = round(seconds * fps)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "16", "preset": "ultrafast"}
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for i in range(n):
            t = i / max(n - 1, 1)
            x, y = round(t * width), round(0.5 * height * (1 + np.sin(6.28 * t)) / 2)
            frame = np.ascontiguousarray(photo[y:y + height, x:x + width])
            if mosaic and mosaic_scale != 1:
                big = (round(width * mosaic_scale), round(height * mosaic_scale))
                large = cv2.resize(frame, big, interpolation=cv2.INTER_CUBIC)
                large = mosaic_image(large, box_mask(big[1], big[0],
                                                     region_box(*big)), 16)
                frame = cv2.resize(large, (width, height), interpolation=cv2.INTER_AREA)
            elif mosaic:
                frame = mosaic_image(frame, mask, 16)
            for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        rate, chunk = 48000, 1024
        total = round(seconds * rate)
        for k in range(0, total, chunk):
            ts = (np.arange(k, min(k + chunk, total)) / rate).astype(np.float32)
            wave = np.repeat((0.2 * np.sin(2 * np.pi * 440 * ts))[None], 2, 0)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave), format="fltp",
                                            layout="stereo")
            af.sample_rate, af.pts, af.time_base = rate, k, Fraction(1, rate)
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(job: str, src: str, dst: str, opts: dict) -> None:
    """Run one job in this (fresh) process; print a JSON line with its numbers."""
    import torch

    from mosaicgan.jobs.mosaic import mosaic_video
    from mosaicgan.jobs.restore import restore_video
    from mosaicgan.options import VideoOptions
    from mosaicgan.regions.masks import box_mask
    from mosaicgan.video.io import probe

    torch.set_num_threads(os.cpu_count() or 1)
    info = probe(src)
    box = region_box(info.width, info.height)
    common = dict(options=VideoOptions(crf=opts["crf"], preset=opts["preset"],
                                       batch=opts["batch"], progress=False),
                  log=lambda _: None)
    rss_before = rss_mb()
    t0 = time.perf_counter()
    if job == "mosaic":
        report = mosaic_video(src, dst, box=box, **common)
    elif job == "tracked":
        mask = box_mask(info.height, info.width, box)
        report = mosaic_video(src, dst, region_fn=lambda frame: mask, **common)
    else:
        from mosaicgan.models.restorer import Restorer, load_restorer
        from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator

        if job.startswith("shipped"):
            restorer = load_restorer("default", device="cpu")
        else:
            torch.manual_seed(0)
            cfg = Pix2PixConfig(size=256, ngf=16, mask_channel=True)
            restorer = Restorer(build_generator(cfg), cfg, torch.device("cpu"))
        if job == "shipped-search-all":
            from mosaicgan.find_mosaic import MosaicFollower
            from mosaicgan.video import processors

            processors.MosaicFollower = lambda: MosaicFollower(full_every=1)
        mask = box_mask(info.height, info.width, box) if job == "restore" else None
        report = restore_video(src, dst, restorer, mask=mask, **common)
    seconds = time.perf_counter() - t0
    out = {"frames": report.frames_written, "seconds": seconds,
           "fps": report.frames_written / seconds, "peak_mb": rss_mb(),
           "end_mb": rss_mb("VmRSS"), "start_mb": rss_before}
    if job.startswith("restore") or job.startswith("shipped"):
        def frames(*tables: dict) -> int:
            return len({i for t in tables for e in t.values()
                        for i in range(e["frames"][0], e["frames"][1] + 1)})

        out["restored_frames"] = frames(report.synthesized)
        # found: restored, or kept mosaiced because the gate refused its track
        out["found_frames"] = frames(report.synthesized, report.withheld, report.refused)
        out["psnr"] = psnr_inside(dst, opts["clean"], box_mask(info.height, info.width, box))
    print(json.dumps(out))


def psnr_inside(restored: str, clean: str, mask: np.ndarray) -> float:
    """PSNR (dB) inside ``mask`` over all frames of two clips of one size."""
    from mosaicgan.video.io import read_frames

    total, count = 0.0, 0
    for (_, a), (_, b) in zip(read_frames(restored), read_frames(clean), strict=True):
        d = a[mask].astype(np.float64) - b[mask]
        total += float((d * d).sum())
        count += d.size
    return 10 * np.log10(255 ** 2 / (total / count))


def run_job(job: str, clip: Path, out: Path, opts: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", job, str(clip), str(out), json.dumps(opts)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{job} on {clip.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--keep", type=Path, default=None, help="make the clips here")
    parser.add_argument("--mosaic-scale", type=float, default=1.0,
                        help="mosaic each frame this much larger, then shrink it (1.5: a "
                             "1080p mosaic transcoded to 720p)")
    args = parser.parse_args()
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown jobs {sorted(unknown)}; choose from {', '.join(JOBS)}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    opts = {"crf": args.crf, "preset": args.preset, "batch": args.batch}
    folder = args.keep or Path(tempfile.mkdtemp(prefix="video_speed_"))
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    restores = ("restore", "shipped")
    for seconds in args.seconds:
        for mosaic in (False, True):
            if not mosaic and not jobs:
                continue
            name = f"mosaiced_x{args.mosaic_scale:g}" if mosaic else "clean"
            path = folder / f"{name}_{seconds:g}s_{width}x{height}.mp4"
            if not path.exists():
                print(f"making {path.name}", file=sys.stderr)
                make_clip(path, seconds, args.fps, width, height, mosaic, args.mosaic_scale)
            clips[seconds, mosaic] = path
    quiet = wait_for_quiet()
    rows = []
    with NoiseMeter() as noise:
        for job in jobs:
            for seconds in args.seconds:
                clip = clips[seconds, job.startswith(restores)]
                print(f"{job} on {clip.name}", file=sys.stderr)
                r = run_job(job, clip, folder / f"out_{job}_{seconds:g}s.mp4",
                            {**opts, "clean": str(clips[seconds, False])})
                rows.append([job, f"{seconds:g} s", r["frames"], f"{r['seconds']:.1f}",
                             f"{r['fps']:.2f}", f"{r['peak_mb']:.0f}", f"{r['end_mb']:.0f}",
                             r.get("found_frames", "-"), r.get("restored_frames", "-"),
                             f"{r['psnr']:.2f}" if "psnr" in r else "-"])
    print(machine_line())
    print(f"\n{width}x{height} at {args.fps} fps, x264 crf {args.crf} preset {args.preset}, "
          f"batch {args.batch}, {os.cpu_count()} CPUs, torch threads = CPUs")
    print(f"mosaic: block 16 on a frame x{args.mosaic_scale:g} the clip's size, 10 % of it")
    print(table(["job", "clip", "frames", "wall s", "frames/s", "peak RSS MB", "RSS at end MB",
                 "frames found", "frames restored", "PSNR in mask dB"], rows))
    print(("" if quiet else "the machine never became quiet; ") + noise.verdict())


if __name__ == "__main__":
    main()
