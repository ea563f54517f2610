"""``--cluster`` on a folder of photos: the plain command against Ray workers, in one run.

Usage: ``.venv/bin/python benchmarks/cluster_speed.py PHOTOS [--count 200] [--rounds 2]
[--job face|find]``

PHOTOS: a folder (searched recursively); the first ``--count`` photos (cycled, mirrored on
the second pass, when there are fewer), scaled to at most 1024 px, are written to a
temporary folder once. Each variant is the command a user types, in a fresh process,
timed wall to wall (Ray's start included); the rounds alternate the variants:

  plain          ``mosaicgan mosaic DIR -o OUT --where face --style solid``
  cluster 1      the same with ``--cluster --workers 1`` (a local Ray instance; the one
                 worker has every CPU for its threads): the overhead of --cluster, Ray's
                 start and stop included
  running, 1     ``--cluster auto --workers 1`` on a Ray head already running with every
                 CPU (``ray start --head``): the overhead on a cluster
  cluster 2      ``--cluster --workers 2`` (one CPU each)
  1 CPU, 1 / 2   a Ray head started with ``ray start --head --num-cpus N`` (N = 1, then 2)
                 and ``--cluster auto``: one worker of one CPU against two, the scaling
                 one more machine of workers gives

``--job find``: ``find-mosaic`` instead. Prints a table (median seconds, photos/s, ratios)
and the machine line. The noise meter counts Ray's worker processes (started by Ray's
daemons, not by this process) as other processes: with --cluster it reads "NOISY" on a
quiet machine; look at the machine's load before the run instead (the "quiet before" line).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import NoiseMeter, machine_line, table, wait_for_quiet

from mosaicgan.imageio import IMAGE_SUFFIXES, read_image, write_image

BIN = Path(sys.executable).parent
JOBS = {"face": ["mosaic", "--where", "face", "--style", "solid"], "find": ["find-mosaic"]}


def make_folder(photos: Path, count: int, folder: Path) -> None:
    found = sorted(p for p in photos.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise SystemExit(f"{photos}: no photos")
    for i in range(count):
        image = read_image(found[i % len(found)])
        if (i // len(found)) % 2:
            image = image[:, ::-1]
        scale = min(1.0, 1024 / max(image.shape[:2]))
        if scale < 1:
            image = cv2.resize(image, (round(image.shape[1] * scale),
                                       round(image.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        write_image(folder / f"{i:04d}.png", image)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds


def ray_stop() -> None:
    subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, check=False)


def ray_head(cpus: int, pin: bool = False) -> None:
    """A Ray head of ``cpus`` CPUs; ``pin``: it and every worker it starts on core 0."""
    ray_stop()
    cmd = [str(BIN / "ray"), "start", "--head", f"--num-cpus={cpus}",
           "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run((["taskset", "-c", "0"] if pin else []) + cmd, capture_output=True,
                   check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--job", choices=sorted(JOBS), default="face")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cluster_speed_"))
    try:
        make_folder(args.photos, args.count, work / "in")
        command = [str(BIN / "mosaicgan"), *JOBS[args.job][:1], str(work / "in"), "-o"]
        rest = JOBS[args.job][1:]
        local = {"plain": [], "cluster 1": ["--cluster", "--workers", "1"],
                 "cluster 2": ["--cluster", "--workers", "2"]}
        times: dict[str, list[float]] = {name: [] for name in
                                         [*local, "running, 1 worker", "1 CPU, 1 worker",
                                          "1 CPU each, 2 workers"]}
        quiet = wait_for_quiet()
        with NoiseMeter() as noise:
            run_rounds(args, command, rest, local, times, work)
        median = {k: statistics.median(v) for k, v in times.items()}
        base = {"plain": "plain", "cluster 1": "plain", "cluster 2": "cluster 1",
                "running, 1 worker": "plain", "1 CPU, 1 worker": "plain",
                "1 CPU each, 2 workers": "1 CPU, 1 worker"}
        rows = [[name, f"{median[name]:.1f}", f"{args.count / median[name]:.2f}",
                 f"{median[base[name]] / median[name]:.2f}x {base[name]}"
                 if name != "plain" else "-"] for name in times]
        print(machine_line())
        print(f"job: mosaicgan {' '.join(JOBS[args.job])}, {args.count} photos (at most "
              f"1024 px), {args.rounds} round(s), median wall seconds per command")
        print(table(["variant", "seconds", "photos/s", "speed against"], rows))
        print(f"quiet before: {quiet}; {noise.verdict()}")
    finally:
        ray_stop()
        shutil.rmtree(work, ignore_errors=True)


def run_rounds(args: argparse.Namespace, command: list[str], rest: list[str],
               local: dict[str, list[str]], times: dict[str, list[float]], work: Path) -> None:
    for r in range(args.rounds):
        for name, extra in local.items():
            out = work / f"out{r}_{name[-1]}"
            times[name].append(timed([*command, str(out), *rest, *extra]))
            shutil.rmtree(out, ignore_errors=True)
        heads = ((os.cpu_count() or 1, 1, "running, 1 worker"), (1, 1, "1 CPU, 1 worker"),
                 (2, 2, "1 CPU each, 2 workers"))
        for cpus, workers, name in heads:
            ray_head(cpus)
            out = work / f"head{r}_{cpus}_{workers}"
            try:
                times[name].append(timed([*command, str(out), *rest, "--cluster", "auto",
                                          "--workers", str(workers)]))
            finally:
                ray_stop()
            shutil.rmtree(out, ignore_errors=True)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                             for k, v in times.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
