import json

import numpy as np
import pytest

from mosaicgan.api import make_pairs
from mosaicgan.data.paired import PairedDataset
from mosaicgan.data.synth import PairSpec, make_pair
from mosaicgan.imageio import read_image, read_mask, write_image

from .conftest import photo


def files_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_pairs(photos_dir, tmp_path, no_detections):
    kwargs = {"size": 48, "per_image": 3, "block": (3, 8), "val": 0.25, "log": lambda _: None,
              "progress": False}
    make_pairs(photos_dir, tmp_path / "a", seed=7, **kwargs)
    make_pairs(photos_dir, tmp_path / "b", seed=7, **kwargs)
    make_pairs(photos_dir, tmp_path / "c", seed=8, **kwargs)
    a, b, c = (files_bytes(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c


def test_pair_contents_and_split_by_photo(tiny_pairs):
    rows = {split: [json.loads(x) for x in (tiny_pairs / split / "pairs.jsonl").read_text()
                    .splitlines()] for split in ("train", "val")}
    sources = {split: {r["source"] for r in rs} for split, rs in rows.items()}
    assert len(sources["val"]) == 1 and not sources["val"] & sources["train"]
    for row in rows["train"]:
        clean = read_image(tiny_pairs / "train" / row["clean"])
        mosaic = read_image(tiny_pairs / "train" / row["mosaic"])
        mask = read_mask(tiny_pairs / "train" / row["mask"])
        assert clean.shape == mosaic.shape == (32, 32, 3)
        assert 0.03 <= mask.mean() <= 0.45
        if row["jpeg"] is None:
            np.testing.assert_array_equal(mosaic[~mask], clean[~mask])
        assert row["shape"] in ("rect", "ellipse") and 2 <= row["block"] <= 6


def test_make_pair_mosaics_with_the_recorded_grid():
    from mosaicgan.mosaic import pixelate_array

    spec = PairSpec(size=96, block=(6, 12), jpeg_probability=0.0)
    pair = make_pair(photo("chelsea"), np.random.default_rng(0), spec)
    p = pair.params
    np.testing.assert_array_equal(pair.mosaic,
                                  pixelate_array(pair.clean, pair.mask, p["block"], p["origin"]))
    assert 6 <= p["block"] <= 12


def test_bad_photos_are_named_and_the_rest_goes_on(tmp_path, no_detections):
    write_image(tmp_path / "good.png", photo("coffee"))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    lines = []
    report = make_pairs(tmp_path, tmp_path / "ds", size=32, per_image=2, val=0.0,
                        log=lines.append, progress=False)
    assert report.pairs["train"] == 2
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["broken.png"]
    assert any("broken.png" in line and "not an image" in line for line in lines)


def test_aligned_ab_reader(tmp_path):
    left = np.full((64, 64, 3), 10, np.uint8)
    right = np.full((64, 64, 3), 200, np.uint8)
    write_image(tmp_path / "train" / "1.jpg", np.concatenate([left, right], 1))
    ab = PairedDataset(tmp_path, "train", 32, "AtoB", augment=False)[0]
    ba = PairedDataset(tmp_path, "train", 32, "BtoA", augment=True)[(0, 3)]
    assert ab["a"].shape == (3, 32, 32) and ab["mask"].all()
    assert abs(ab["a"].mean() - 10 / 255) < 0.02 and abs(ab["b"].mean() - 200 / 255) < 0.02
    assert abs(ba["a"].mean() - 200 / 255) < 0.02 and abs(ba["b"].mean() - 10 / 255) < 0.02
    assert not PairedDataset(tmp_path, "train", 32).has_mask


def test_augmentation_is_shared_by_both_sides_and_seeded(tiny_pairs):
    data = PairedDataset(tiny_pairs, "train", 32, augment=True)
    flips = set()
    for seed in range(8):
        item, again = data[(0, seed)], data[(0, seed)]
        assert all(np.array_equal(item[k], again[k]) for k in ("a", "b", "mask"))
        plain = data.views(0)[2]
        flips.add(bool(np.array_equal(item["mask"][0].numpy(), plain[:, ::-1])
                       and not np.array_equal(plain, plain[:, ::-1])))
    assert flips == {True, False}


def test_bad_arguments():
    with pytest.raises(ValueError, match="val"):
        make_pairs([], "/nonexistent", val=1.5)
    with pytest.raises(ValueError, match="block range"):
        make_pairs([], "/nonexistent", block=(8, 4))


def test_an_interrupted_pairs_run_resumes_to_the_same_bytes(photos_dir, tmp_path, monkeypatch,
                                                            no_detections):
    from mosaicgan.errors import InputError
    from mosaicgan.jobs import pairs as pairs_job

    kwargs = {"size": 32, "per_image": 2, "val": 0.25, "seed": 5,
              "log": lambda _: None, "progress": False}
    make_pairs(photos_dir, tmp_path / "whole", **kwargs)
    real, calls = pairs_job._pairs_of_photo, [0]

    def interrupted(*a, **k):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pairs_job, "_pairs_of_photo", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_pairs(photos_dir, tmp_path / "split", **kwargs)
    with pytest.raises(InputError, match="other settings"):
        make_pairs(photos_dir, tmp_path / "split", **{**kwargs, "seed": 6})
    calls[0] = -100
    make_pairs(photos_dir, tmp_path / "split", **kwargs)
    assert calls[0] == -100 + 2  # only the two unfinished photos were made again
    assert files_bytes(tmp_path / "split") == files_bytes(tmp_path / "whole")
