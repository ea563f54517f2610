"""``--cluster`` on one long video: its chunks on Ray workers against the plain command.

Usage: ``.venv/bin/python benchmarks/cluster_video.py [--seconds 60] [--fps 25]
[--size 1280x720] [--rounds 1] [--photos DIR] [--labels FILE]``

The clip: every photo with labelled faces (the astronaut and the held-out photos of
``face_labels.json``) panned across a grey canvas, a cut between photos, for
``--seconds``, with a 440 Hz AAC track. Each variant is the command a user types, in a
fresh process, timed wall to wall (Ray's start included); rounds alternate them:

  one pass            ``mosaicgan mosaic CLIP -o OUT --where face --style solid --chunk 0``
  chunks              the same with ``--chunk`` (default the command's, 30 s): the chunks
                      one after another
  cluster 1           ``--cluster --workers 1``: a local Ray instance started by the command,
                      one worker with every core (the overhead of --cluster, Ray's start
                      and stop included)
  running, 1 worker   ``--cluster auto --workers 1`` on a Ray head already running with
                      every core (``ray start --head``): the overhead on a cluster
  1 core, 1 worker    a Ray head started under ``taskset -c 0`` with ``--num-cpus 1`` and
                      ``--cluster auto``: one machine of one core...
  2 cores, 2 workers  ...against a head of 2 CPUs and 2 workers: the scaling a second
                      machine of workers gives

Checks, for every output: the clip's frame times (every frame once, in order) and its
audio packets byte for byte; the labelled face-frames >= 16 px filled black (90 % of the
box); and, for the chunked outputs, the difference from the one-pass output (mean |diff|
and PSNR over the frames within 3 of a join, and over the others: the joins should not
stand out). The encoder alone makes some of that (each chunk starts with a keyframe and
x264's rate control anew), so one pass and chunks are also run once more with x264
lossless (``--crf 0 --preset ultrafast``, not timed): there, any difference is the
processing's (the tracker, the detection schedule, the follower across a join). Prints
a table and the machine line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from cluster_speed import BIN, ray_head, ray_stop, timed
from common import NoiseMeter, machine_line, table, wait_for_quiet
from video_speed import add_tone, faces_hidden

HERE = Path(__file__).parent
JOB = ["--where", "face", "--style", "solid"]
NEAR_JOIN = 3  # frames on each side of a join compared on their own


def make_clip(path: Path, photos: Path, labels: Path, seconds: float, fps: int, width: int,
              height: int) -> list[list]:
    """Write the clip, photo by photo (bounded memory); return each frame's face boxes."""
    import av
    from face_video import labelled_photos, pan

    listed = labelled_photos(photos, labels)
    total = round(seconds * fps)
    each = math.ceil(total / len(listed))
    boxes: list[list] = []
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "18", "preset": "medium"}
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for _, image, faces in listed:
            frames, frame_boxes = pan(image, faces, (width, height),
                                      min(each, total - len(boxes)), 2)
            for frame in frames:
                for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(p)
            boxes += frame_boxes
        for p in v.encode():
            c.mux(p)
        add_tone(c, a, len(boxes) / fps)
    return boxes


def stream_facts(path: Path) -> tuple[list, list[bytes]]:
    import av

    with av.open(str(path)) as c:
        times = [f.pts * f.time_base for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.dts is not None]
    return times, audio


def join_difference(one_pass: Path, chunked: Path, joins: list[int]) -> dict[str, float]:
    """Mean |diff| and PSNR (dB) of the chunked output against the one-pass output, on the
    frames near a join and on the others (streamed: one frame of each at a time)."""
    from mosaicgan.video.io import read_frames

    sums = {"near": [0.0, 0.0, 0], "rest": [0.0, 0.0, 0]}  # |diff| sum, squared sum, pixels
    for i, ((_, a), (_, b)) in enumerate(zip(read_frames(one_pass), read_frames(chunked),
                                             strict=True)):
        d = a.astype(np.float32) - b
        key = "near" if any(abs(i - j) <= NEAR_JOIN for j in joins) else "rest"
        sums[key][0] += float(np.abs(d).sum())
        sums[key][1] += float((d * d).sum())
        sums[key][2] += d.size
    out = {}
    for key, (absolute, squared, n) in sums.items():
        if not n:
            out[f"{key} mean"] = out[f"{key} psnr"] = math.nan
            continue
        out[f"{key} mean"] = absolute / n
        out[f"{key} psnr"] = (10 * math.log10(255 ** 2 / (squared / n)) if squared
                              else math.inf)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--photos", type=Path, default=HERE / "../../shared/data/photos")
    parser.add_argument("--labels", type=Path, default=HERE / "face_labels.json")
    parser.add_argument("--chunk", type=float, default=None,
                        help="seconds per chunk (default: the command's own)")
    args = parser.parse_args()
    from mosaicgan.options import VideoOptions
    from mosaicgan.video.chunks import plan_chunks

    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="cluster_video_"))
    try:
        clip = work / "clip.mp4"
        boxes = make_clip(clip, args.photos, args.labels, args.seconds, args.fps, width, height)
        options = VideoOptions() if args.chunk is None else VideoOptions(chunk=args.chunk)
        chunks = plan_chunks(clip, work / "x.mp4", options)
        chunking = [] if args.chunk is None else ["--chunk", str(args.chunk)]
        joins = [c.frames[0] for c in chunks[1:]] if chunks else []
        command = [str(BIN / "mosaicgan"), "mosaic", str(clip), "-o"]
        variants = {"one pass": ["--chunk", "0"], "chunks": [],
                    "cluster 1": ["--cluster", "--workers", "1"],
                    "running, 1 worker": ["--cluster", "auto", "--workers", "1"],
                    "1 core, 1 worker": ["--cluster", "auto", "--workers", "1"],
                    "2 cores, 2 workers": ["--cluster", "auto", "--workers", "2"]}
        cores = os.cpu_count() or 1
        heads = {"running, 1 worker": (cores, False), "1 core, 1 worker": (1, True),
                 "2 cores, 2 workers": (2, False)}
        times: dict[str, list[float]] = {name: [] for name in variants}
        checks: dict[str, list[str]] = {}
        quiet = wait_for_quiet()
        with NoiseMeter() as noise:
            for r in range(args.rounds):
                for name, extra in variants.items():
                    out = work / f"out_{r}_{name.replace(' ', '_').replace(',', '')}"
                    if name in heads:
                        ray_head(*heads[name])
                    try:
                        times[name].append(timed([*command, str(out), *JOB, *chunking,
                                                  *extra]))
                    finally:
                        if name in heads:
                            ray_stop()
                    if r == 0:
                        checks[name] = [str(out / "clip_anonymised.mp4")]
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                                     for k, v in times.items()),
                      file=sys.stderr)
        lossless = {}
        for name, extra in (("one pass", ["--chunk", "0"]), ("chunks", [])):
            out = work / f"lossless_{name.replace(' ', '_')}"
            timed([*command, str(out), *JOB, *chunking, *extra, "--crf", "0", "--preset",
                   "ultrafast"])
            lossless[name] = out / "clip_anonymised.mp4"
        exact = join_difference(lossless["one pass"], lossless["chunks"], joins)
        want_times, want_audio = stream_facts(clip)
        one_pass = Path(checks["one pass"][0])
        rows = []
        median = {k: statistics.median(v) for k, v in times.items()}
        base = {"one pass": None, "chunks": "one pass", "cluster 1": "one pass",
                "running, 1 worker": "one pass", "1 core, 1 worker": "one pass",
                "2 cores, 2 workers": "1 core, 1 worker"}
        frames = len(want_times)
        for name in variants:
            out = Path(checks[name][0])
            got_times, got_audio = stream_facts(out)
            hidden, _, total = faces_hidden(clip, out, boxes)
            same = "yes" if got_times == want_times and got_audio == want_audio else "NO"
            diff = "-" if name == "one pass" else \
                "{near mean:.2f} / {near psnr:.1f} dB, rest {rest mean:.2f} / {rest psnr:.1f} dB"\
                .format(**join_difference(one_pass, out, joins))
            against = base[name]
            rows.append([name, f"{median[name]:.1f}", f"{frames / median[name]:.2f}",
                         f"{median[against] / median[name]:.2f}x {against}" if against else "-",
                         same, f"{hidden}/{total}", diff])
        print(machine_line())
        print(f"clip: {frames} frames {width}x{height} at {args.fps} fps with AAC audio; job: "
              f"mosaicgan mosaic {' '.join(JOB)}; chunks {[c.frames for c in chunks or []]}; "
              f"{args.rounds} round(s), median wall seconds per command")
        print(table(["variant", "seconds", "frames/s", "speed against", "frames+audio same",
                     "faces hidden", "vs one pass: near joins / rest (mean |diff|, PSNR)"],
                    rows))
        print("x264 lossless, chunks against one pass: near joins {near mean:.3f} / "
              "{near psnr:.1f} dB, rest {rest mean:.3f} / {rest psnr:.1f} dB (mean |diff|, "
              "PSNR; 0 and inf: the same pixels)".format(**exact))
        print(f"quiet before: {quiet}; {noise.verdict()}")
        print(json.dumps({"times": times}), file=sys.stderr)
    finally:
        ray_stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
