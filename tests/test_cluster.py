"""Batches on a local Ray cluster of 2 workers: the same outputs, failures and exit code as
without ``--cluster``, ``--resume`` across the two, one line for a model that is missing,
and the safety gate at work inside the workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mosaicgan.imageio import read_image, write_image
from mosaicgan.options import ClusterOptions, OutputOptions

from .conftest import ASTRONAUT_FACE, photo

ray = pytest.importorskip("ray")

TWO = ClusterOptions(workers=2)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance of 2 CPUs for the module (each job joins it, none stops it)."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    signal.signal(signal.SIGTERM, before)  # (ray.init takes it; later tests need it back)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Four photos in two folders, and a file that is not an image."""
    root = tmp_path_factory.mktemp("inputs")
    for name in ("chelsea", "coffee"):
        write_image(root / name / f"{name}.png", photo(name))
        write_image(root / name / "more" / f"{name}2.png", photo(name)[::2, ::2])
    (root / "coffee" / "broken.png").write_bytes(b"not an image")
    return root


def outputs(folder: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(folder).as_posix(): read_image(p)
            for p in sorted(folder.rglob("*.png"))}


def test_mosaic_on_the_cluster_writes_what_the_plain_command_writes(tmp_path, local_ray,
                                                                    folder):
    from mosaicgan.api import mosaic_files

    plain = mosaic_files([folder], tmp_path / "plain", where="random", seed=4, log=quiet)
    lines: list[str] = []
    spread = mosaic_files([folder], tmp_path / "spread", where="random", seed=4,
                          cluster=TWO, log=lines.append)
    assert len(plain.written) == len(spread.written) == 4
    assert [f for f, _ in spread.failed] == [f for f, _ in plain.failed] == \
        [str(folder / "coffee" / "broken.png")]
    assert any("broken.png" in line for line in lines)  # the worker's line, said here
    want, got = outputs(tmp_path / "plain"), outputs(tmp_path / "spread")
    assert list(want) == list(got)
    for name in want:  # the random regions are the batch's, not the worker's
        np.testing.assert_array_equal(got[name], want[name])
    assert any((want[n] != read_image(folder / n.replace("_anonymised", ""))).any()
               for n in want)


def test_resume_skips_what_a_cluster_run_wrote(tmp_path, local_ray, folder):
    from mosaicgan.api import find_mosaic_files

    first = find_mosaic_files([folder], tmp_path / "out", cluster=TWO, log=quiet)
    assert len(first.written) == 4
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}
    lines: list[str] = []
    again = find_mosaic_files([folder], tmp_path / "out", log=lines.append,
                              output=OutputOptions(resume=True))
    assert not again.written and any("already done" in line for line in lines)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}


def test_the_cli_fails_one_line_per_bad_input_with_exit_code_2(tmp_path, local_ray, folder):
    from click.testing import CliRunner

    from mosaicgan.cli import main

    result = CliRunner().invoke(main, ["find-mosaic", str(folder), "-o", str(tmp_path / "o"),
                                       "--cluster", "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "4 written, 1 failed" in result.output
    assert result.output.count("broken.png") == 1


def test_a_missing_model_is_said_once(tmp_path, local_ray, folder):
    from mosaicgan.api import restore_files
    from mosaicgan.errors import MosaicganError

    with pytest.raises(MosaicganError, match="nothing"):
        restore_files([folder], tmp_path / "out", model=tmp_path / "nothing.json",
                      cluster=TWO, log=quiet)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_restore_on_the_cluster_keeps_her_face_mosaiced(tmp_path, local_ray):
    """The gate runs inside the workers: the shipped model's restoration of her mosaiced
    face is refused there, the region written as the input had it, and the line says so."""
    from mosaicgan.api import restore_files
    from mosaicgan.mosaic import mosaic_image
    from mosaicgan.regions.masks import box_mask

    clean = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    mosaiced = mosaic_image(clean, mask, 12)
    write_image(tmp_path / "in" / "astronaut.png", mosaiced)
    write_image(tmp_path / "in" / "again" / "astronaut.png", mosaiced)  # one for each worker
    write_image(tmp_path / "face.png", mask.astype(np.uint8) * 255)
    lines: list[str] = []
    report = restore_files([tmp_path / "in"], tmp_path / "out", mask=tmp_path / "face.png",
                           device="cpu", cluster=TWO, log=lines.append)
    assert len(report.written) == 2 and not report.failed
    assert sum("face" in n for n in report.notes) == 2
    for name in ("astronaut", "again/astronaut"):
        out = read_image(tmp_path / "out" / f"{name}_restored.png")
        np.testing.assert_array_equal(out[mask], mosaiced[mask])
        refused = report.details[str(tmp_path / "in" / f"{name}.png")]["refused"]
        assert refused and "face" in refused[0]["reasons"]
    assert sum("face" in line for line in lines) == 2


def test_without_ray_the_option_says_how_to_install_it(tmp_path, monkeypatch, folder):
    import sys

    from mosaicgan.api import find_mosaic_files
    from mosaicgan.errors import MosaicganError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MosaicganError, match=r"mosaicgan\[cluster\]"):
        find_mosaic_files([folder], tmp_path / "out", cluster=TWO, log=quiet)


def test_worker_shares_of_the_cpus():
    from mosaicgan.jobs.cluster import worker_cpus

    assert worker_cpus(2.0, None) == (2, 1.0)
    assert worker_cpus(2.0, 1) == (1, 2.0)  # one worker: both cores for its threads
    assert worker_cpus(16.0, 3) == (3, 5.0)
    assert worker_cpus(2.0, 4) == (4, 0.5)


def test_the_cli_tells_an_address_from_an_input(tmp_path):
    from click.testing import CliRunner

    from mosaicgan.cli import main

    swallowed = CliRunner().invoke(main, ["find-mosaic", "-o", str(tmp_path), "--cluster",
                                          "photos", "more"])
    assert swallowed.exit_code == 2 and "not a Ray address" in swallowed.output
    lonely = CliRunner().invoke(main, ["find-mosaic", "x.png", "-o", str(tmp_path),
                                       "--workers", "2"])
    assert lonely.exit_code == 2 and "--workers is for --cluster" in lonely.output


def test_translate_on_the_cluster_writes_what_the_plain_command_writes(
        tmp_path, local_ray, folder, tiny_translation_model):
    from mosaicgan.api import translate_files

    # (both sides screen with the real detector: the workers cannot be handed a fake one)
    inputs = [folder / "chelsea" / "more", folder / "coffee" / "more"]
    plain = translate_files(inputs, tmp_path / "plain", model=tiny_translation_model,
                            device="cpu", log=quiet)
    spread = translate_files(inputs, tmp_path / "spread", model=tiny_translation_model,
                             device="cpu", cluster=TWO, log=quiet)
    assert len(plain.written) == len(spread.written) == 2
    want, got = outputs(tmp_path / "plain"), outputs(tmp_path / "spread")
    assert list(want) == list(got)
    for name in want:  # a worker's generator runs on fewer threads: rounding may differ
        diff = np.abs(got[name].astype(int) - want[name])
        assert diff.max() <= 1 and diff.mean() < 0.2, (name, diff.max(), diff.mean())


def test_eval_on_the_cluster_gives_the_plain_report(tmp_path, local_ray, photos_dir,
                                                    tiny_model):
    from mosaicgan.api import evaluate

    # (both sides screen with the real detector, as above)

    kwargs = {"model": tiny_model, "blocks": (8,), "per_image": 1, "seed": 4,
              "device": "cpu", "log": quiet, "progress": False}
    plain = evaluate(photos_dir, tmp_path / "plain", **kwargs)
    spread = evaluate(photos_dir, tmp_path / "spread", cluster=TWO, **kwargs)
    assert [(r["method"], r["n"]) for r in spread.rows] == \
        [(r["method"], r["n"]) for r in plain.rows]
    for want, got in zip(plain.rows, spread.rows, strict=True):
        if want["method"] != "model":  # the baselines: the same numbers
            assert got == want
        else:  # the model on a worker's threads: rounding
            assert got["psnr"] == pytest.approx(want["psnr"], abs=0.05)
    assert (tmp_path / "spread" / "grid.png").is_file()


def test_a_long_video_in_chunks_on_the_workers_is_the_plain_output(tmp_path, local_ray):
    """Cut in chunks for the workers, then joined: every frame once, in order, its audio,
    the pixels of the plain command; the chunk folder gone."""
    from mosaicgan.api import mosaic_files
    from mosaicgan.options import VideoOptions
    from mosaicgan.video.chunks import chunk_folder

    from .test_video import BLOCK, BOX, TOL_MEAN, audio_packets, frames_of, make_clip, video_times

    (tmp_path / "in").mkdir()
    clip = make_clip(tmp_path / "in" / "long.mp4", n=60)  # 6 s: three chunks of 2 s
    plain = mosaic_files([clip], tmp_path / "plain", box=BOX, block=BLOCK,
                         video=VideoOptions(progress=False, chunk=None), log=quiet)
    lines: list[str] = []
    spread = mosaic_files([clip], tmp_path / "spread", box=BOX, block=BLOCK,
                          video=VideoOptions(progress=False, chunk=2.0), cluster=TWO,
                          log=lines.append)
    (want,), (got,) = plain.written, spread.written
    assert video_times(got) == video_times(want) and len(video_times(got)) == 60
    assert audio_packets(got) == audio_packets(clip)
    assert np.abs(frames_of(got).astype(int) - frames_of(want)).mean() < TOL_MEAN
    assert not chunk_folder(got).exists()
    assert f"{clip}: 3 chunks, side by side on the workers" in lines
    assert any("60 frames" in line for line in lines)  # the join's summary, said here
    assert not any("done by an earlier run" in line for line in lines)


def test_a_broken_long_video_fails_alone_on_the_cluster(tmp_path, local_ray):
    from mosaicgan.api import mosaic_files
    from mosaicgan.options import VideoOptions
    from mosaicgan.video.chunks import chunk_folder

    from .test_video import BOX, make_clip

    (tmp_path / "in").mkdir()
    good = make_clip(tmp_path / "in" / "good.mp4", n=60)
    bad = make_clip(tmp_path / "in" / "bad.mkv", n=60)
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) * 3 // 4])  # cut off: its last chunk fails, on a worker
    lines: list[str] = []
    report = mosaic_files([tmp_path / "in"], tmp_path / "out", box=BOX,
                          video=VideoOptions(progress=False, chunk=2.0), cluster=TWO,
                          log=lines.append)
    assert [Path(p).name for p in report.written] == ["good_anonymised.mp4"]
    assert [Path(f).name for f, _ in report.failed] == ["bad.mkv"]
    assert f"{bad}: 2 chunks, side by side on the workers" in lines  # (failing in one)
    assert sum("bad.mkv" in line and "truncated" in line for line in lines) == 1
    assert good.exists() and not chunk_folder(tmp_path / "out" / "bad_anonymised.mkv").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()
                  if not p.name.startswith(".mosaicgan")) == ["good_anonymised.mp4"]


def test_a_local_instance_sends_no_usage_statistics(monkeypatch):
    """Ray reports usage statistics unless told not to: a local instance started here is."""
    import os

    from ray._common.usage import usage_lib

    from mosaicgan.jobs.cluster import connect

    seen: dict = {}
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(
        kw, stats=os.environ.get("RAY_USAGE_STATS_ENABLED"),
        enabled=usage_lib.usage_stats_enabled()))
    assert connect(ClusterOptions()) is True
    assert seen["address"] == "local" and seen["stats"] == "0" and seen["enabled"] is False


def test_a_long_video_interrupted_here_resumes_on_the_cluster(tmp_path, local_ray):
    from mosaicgan.api import mosaic_files
    from mosaicgan.options import VideoOptions
    from mosaicgan.video.chunks import chunk_folder

    from .test_video import BLOCK, BOX, TOL_MEAN, frames_of, make_clip, video_times

    (tmp_path / "in").mkdir()
    clip = make_clip(tmp_path / "in" / "long.mp4", n=60)
    chunked = VideoOptions(progress=False, chunk=2.0)

    def stop_at_chunk_2(line: str) -> None:
        if "chunk 2 of 3" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mosaic_files([clip], tmp_path / "out", box=BOX, block=BLOCK, video=chunked,
                     log=stop_at_chunk_2)
    lines: list[str] = []
    report = mosaic_files([clip], tmp_path / "out", box=BOX, block=BLOCK, video=chunked,
                          cluster=TWO, log=lines.append)
    assert any("1 of 3 chunk(s) done by an earlier run" in line for line in lines)
    (got,) = report.written
    assert not chunk_folder(got).exists() and len(video_times(got)) == 60
    plain = mosaic_files([clip], tmp_path / "plain", box=BOX, block=BLOCK,
                         video=VideoOptions(progress=False, chunk=None), log=quiet)
    assert np.abs(frames_of(got).astype(int) - frames_of(plain.written[0])).mean() < TOL_MEAN
