"""Video speed and memory: frames/s and peak RSS of the video jobs on 1280x720 clips.

    .venv/bin/python benchmarks/video_speed.py [--seconds 10 60] [--fps 25]
        [--jobs mosaic,tracked,restore,restore-find] [--size 1280x720] [--preset medium]
        [--crf 18] [--batch 8] [--keep DIR] [--deface PATH] [--frames-each 25]

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

  face          ``mosaicgan mosaic CLIP --where face --style solid``, the command as a user
                runs it (its defaults otherwise; start-up included), on a clip of every
                photo with labelled faces (``--photos``, ``--labels``: the astronaut and
                the held-out CBSD68 and Sun-Hays photos), each panned ``--frames-each``
                frames, a cut between photos
  deface        ``deface CLIP --replacewith solid`` on the same clip (``--deface``: the
                command, installed in a venv of its own; skipped with a line saying how
                to install it when missing). Both tools fill faces with black, so the
                labelled face-frames >= 16 px whose box is 90 % (and 99 %) black are
                counted the same way for both; the table gives our speed over deface's.

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
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, machine_line, table, wait_for_quiet

JOBS = ("mosaic", "tracked", "restore", "restore-find", "shipped", "shipped-search-all",
        "face", "deface")
FACE_JOBS = ("face", "deface")
HERE = Path(__file__).parent
DEFACE_HELP = ("deface is not installed; install it in a venv of its own, as a user would: "
               "python3 -m venv /tmp/dvenv && /tmp/dvenv/bin/pip install deface, then "
               "--deface /tmp/dvenv/bin/deface")


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
        add_tone(c, a, seconds)
    return path


def add_tone(container, stream, seconds: float) -> None:
    """``seconds`` of a 440 Hz tone into a stereo audio ``stream`` of ``container`` (its
    rate), the encoder flushed."""
    import av

    rate, chunk = stream.rate, 1024
    total = round(seconds * rate)
    for k in range(0, total, chunk):
        ts = (np.arange(k, min(k + chunk, total)) / rate).astype(np.float32)
        wave = np.repeat((0.2 * np.sin(2 * np.pi * 440 * ts))[None], 2, 0)
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave), format="fltp",
                                        layout="stereo")
        af.sample_rate, af.pts, af.time_base = rate, k, Fraction(1, rate)
        for p in stream.encode(af):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


def make_face_clip(path: Path, photos: Path, labels: Path, fps: int, width: int,
                   height: int, frames_each: int, speed: int) -> list[list]:
    """Write a clip of every photo with labelled faces (the astronaut first), each panned
    ``frames_each`` frames (a cut between photos); return each frame's face boxes."""
    import av
    from face_video import labelled_photos, pan

    frames, boxes = [], []
    for _, image, faces in labelled_photos(photos, labels):
        f, b = pan(image, faces, (width, height), frames_each, speed)
        frames += f
        boxes += b
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "18", "preset": "medium"}
        for frame in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return boxes


def faces_hidden(clip: Path, out: Path, boxes: list[list]) -> tuple[int, int, int]:
    """Labelled face-frames >= 16 px hidden by a black fill (90 % of the box black, and
    99 %), and their number: the same count for both tools (both fill with black)."""
    from mosaicgan.video.io import read_frames

    hidden = full = total = 0
    try:
        for (_, frame), frame_boxes in zip(read_frames(out), boxes, strict=True):
            black = frame.max(axis=2) < 40  # black, up to the codec
            for x, y, w, h in frame_boxes:
                if min(w, h) < 16:
                    continue
                share = black[y:y + h, x:x + w].mean()
                total += 1
                hidden += share >= 0.9
                full += share >= 0.99
    except ValueError as exc:  # zip: the output has another number of frames
        raise SystemExit(f"{out}: not as many frames as {clip} ({len(boxes)})") from exc
    return hidden, full, total


def run_command(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds (start-up included, as a user waits) and peak RSS MB of a command.

    The peak is the command's own VmHWM, read from /proc while it runs (every 0.1 s; it
    only grows, so the last reading is within 0.1 s of the end): wait4's ru_maxrss counts
    the memory this process had when it forked the child (5 GB after making a 72 s clip,
    against a command that never passed 1.3 GB)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{cmd[0]} failed:\n{err.read().decode(errors='replace')[-2000:]}")
    return seconds, peak_kb / 1024


def _vm_hwm_kb(pid: int) -> int:
    """A running process's peak resident memory (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


def face_job(job: str, clip: Path, folder: Path, deface: str | None) -> tuple[Path, float, float]:
    """``mosaicgan mosaic --where face --style solid`` (its defaults otherwise) or deface
    with a solid fill, on ``clip``: the output, wall seconds, peak RSS MB."""
    if job == "deface":
        out = folder / "out_deface.mp4"
        seconds, peak = run_command([deface, str(clip), "--replacewith", "solid",
                                     "-o", str(out)])
        return out, seconds, peak
    target = folder / "out_face"
    seconds, peak = run_command([str(Path(sys.executable).with_name("mosaicgan")), "mosaic",
                                 str(clip), "-o", str(target), "--where", "face",
                                 "--style", "solid", "--overwrite"])
    return target / f"{clip.stem}_anonymised.mp4", seconds, peak


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
            from mosaicgan.find import MosaicFollower
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
    parser.add_argument("--photos", type=Path, default=HERE / "../../shared/data/photos",
                        help="photos with labelled faces, for the face jobs")
    parser.add_argument("--labels", type=Path, default=HERE / "face_labels.json")
    parser.add_argument("--frames-each", type=int, default=25,
                        help="face jobs: frames each labelled photo is panned")
    parser.add_argument("--deface", default=shutil.which("deface"),
                        help="the deface command (default: on PATH)")
    args = parser.parse_args()
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown jobs {sorted(unknown)}; choose from {', '.join(JOBS)}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    face_jobs = [j for j in jobs if j in FACE_JOBS]
    jobs = [j for j in jobs if j not in FACE_JOBS]
    opts = {"crf": args.crf, "preset": args.preset, "batch": args.batch}
    folder = args.keep or Path(tempfile.mkdtemp(prefix="video_speed_"))
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    restores = ("restore", "shipped")
    for seconds in args.seconds if jobs else []:
        for mosaic in (False, True):
            name = f"mosaiced_x{args.mosaic_scale:g}" if mosaic else "clean"
            path = folder / f"{name}_{seconds:g}s_{width}x{height}.mp4"
            if not path.exists():
                print(f"making {path.name}", file=sys.stderr)
                make_clip(path, seconds, args.fps, width, height, mosaic, args.mosaic_scale)
            clips[seconds, mosaic] = path
    face_clip = folder / f"faces_{width}x{height}.mp4"
    if face_jobs:
        print(f"making {face_clip.name}", file=sys.stderr)
        boxes = make_face_clip(face_clip, args.photos, args.labels, args.fps, width, height,
                               args.frames_each, 6)
    quiet = wait_for_quiet()
    rows, face_rows = [], []
    with NoiseMeter() as noise:
        for job in face_jobs:
            if job == "deface" and not args.deface:
                face_rows.append(["deface", "-", "-", "-", "-", "-", DEFACE_HELP])
                continue
            print(f"{job} on {face_clip.name}", file=sys.stderr)
            out, wall, peak = face_job(job, face_clip, folder, args.deface)
            hidden, full, total = faces_hidden(face_clip, out, boxes)
            face_rows.append([job, len(boxes), f"{wall:.1f}", f"{len(boxes) / wall:.2f}",
                              f"{peak:.0f}", f"{hidden}/{total}", f"{full}/{total}"])
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
    if face_rows:
        by_job = {r[0]: r for r in face_rows if r[2] != "-"}
        if "face" in by_job and "deface" in by_job:
            ratio = float(by_job["deface"][2]) / float(by_job["face"][2])
            by_job["face"].append(f"{ratio:.2f}x")
        face_rows = [r + ["-"] * (8 - len(r)) for r in face_rows]
        print(f"\nfaces: {len(boxes)} frames of {width}x{height}, each photo with labelled "
              f"faces panned {args.frames_each} frames at 6 px/frame (a cut between photos); "
              "the commands as a user runs them (start-up included), black fill")
        print(table(["job", "frames", "wall s", "frames/s", "peak RSS MB",
                     "face-frames >= 16 px hidden (90 %)", "in full (99 %)",
                     "speed vs deface"], face_rows))
    if rows:
        print(f"\n{width}x{height} at {args.fps} fps, x264 crf {args.crf} preset {args.preset}, "
              f"batch {args.batch}, {os.cpu_count()} CPUs, torch threads = CPUs")
        print(f"mosaic: block 16 on a frame x{args.mosaic_scale:g} the clip's size, 10 % of it")
        print(table(["job", "clip", "frames", "wall s", "frames/s", "peak RSS MB",
                     "RSS at end MB", "frames found", "frames restored", "PSNR in mask dB"], rows))
    print(("" if quiet else "the machine never became quiet; ") + noise.verdict())


if __name__ == "__main__":
    main()
