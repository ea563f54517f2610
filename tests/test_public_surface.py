"""Nothing public returns a generator's pixels before the safety gate has seen them.

Every public function, method and property of every module is found by walking the
package. One whose return annotation says it may hand back pixels or a network (an array,
a tensor, an image, a result, a processor, a module; or no annotation at all) must be
either in :data:`GATED`, where it is called here on the astronaut's face with a detector
that sees a face there and must consult the gate and keep the face as the input had it,
or in :data:`ALLOWED`, with the reason its pixels are not a generator's. A new public
callable in neither fails :func:`test_every_pixel_callable_is_gated_or_allowed`.

No nudity anywhere: the gate is made to see a face by injected detections.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import mosaicgan
from mosaicgan.detect.base import Detection
from mosaicgan.mosaic import mosaic_image
from mosaicgan.regions.masks import box_mask

from .conftest import ASTRONAUT_FACE, FakeDetector, detector_replaced, photo

# A return annotation that may mean pixels (or something that makes them).
MAY_BE_PIXELS = re.compile(r"ndarray|Tensor|Image|Result|Iterator|Processor|Module|Generator")

# Whole modules whose public callables make no generator pixels, and why.
ALLOWED_MODULES = {
    "mosaicgan.nets": "network definitions: untrained until weights are loaded, and weights "
                      "are ungated by design (issue 23, hole 2)",
    "mosaicgan.train.losses": "losses and the frozen VGG features they compare",
    "mosaicgan.regions.cam": "an ImageNet classifier's activation maps: heat, not pixels",
    "mosaicgan.regions.classifier": "an ImageNet classifier: scores and its input tensors",
    "mosaicgan.detect": "the detectors: boxes and their decoding",
    "mosaicgan.data.finder": "synthetic training pictures for the mosaic finder, made of the "
                             "photo it is given, patterns and its own mosaics (no generator)",
    "mosaicgan.cli": "click plumbing (decorators, the group's invoke); the commands call "
                     "the gated jobs, tested in test_gate_writers",
}

# Single callables whose pixels are not a generator's (or that return something gated).
ALLOWED = {
    # readers, converters and geometry: the input's own pixels, masks and boxes
    "mosaicgan.imageio.read_image": "reads a file",
    "mosaicgan.imageio.read_image_form": "reads a file",
    "mosaicgan.imageio.read_mask": "reads a file",
    "mosaicgan.imageio.atomic_path": "a temporary path",
    "mosaicgan.imageio.encode_jpeg": "re-encodes the pixels it is given",
    "mosaicgan.imageio.to_tensor": "converts the pixels it is given",
    "mosaicgan.imageio.mask_to_tensor": "converts the mask it is given",
    "mosaicgan.imageio.to_image": "converts the tensor it is given",
    "mosaicgan.video.io.read_frames": "decodes a file",
    # a long video's chunks: records of what each did (reports, track boxes); the chunks'
    # videos are written by the jobs' gated processors
    "mosaicgan.video.chunks.ChunkStore.open": "records of the chunks done, no pixels",
    "mosaicgan.video.chunks.ChunkStore.result": "a chunk's record, no pixels",
    "mosaicgan.video.chunks.VideoJob.open": "records of the chunks done, no pixels",
    "mosaicgan.video.chunks.settle": "records of the chunks done, no pixels",
    "mosaicgan.video.schedule.DetectionSchedule.add": "hands back the frame it was given",
    "mosaicgan.video.schedule.DetectionSchedule.finish": "hands back the frame it was given",
    "mosaicgan.video.schedule.thumbnail": "the input shrunk, in grey",
    "mosaicgan.jobs.preview.video_frame": "decodes a file's frame",
    "mosaicgan.jobs.demo.bundled_photos": "scikit-image's photos",
    "mosaicgan.imagefile.read_document": "reads a file",
    "mosaicgan.ui.media.Upload.picture": "reads the upload",
    "mosaicgan.ui.media.Upload.pixels": "reads the upload",
    "mosaicgan.ui.media.displayed": "reads a file (the jobs' gated outputs among them)",
    "mosaicgan.ui.media.on_checkerboard": "composites the image it is given",
    "mosaicgan.ui.cancelling.job": "a context manager: a job's cancel flag",
    "mosaicgan.ui.running.Running.job": "a context manager: a job's cancel flag",
    "mosaicgan.ui.media.take": "reads the upload",
    "mosaicgan.data.paired.PairedDataset.read_views": "reads training files",
    "mosaicgan.data.paired.PairedDataset.views": "reads training files",
    "mosaicgan.data.unpaired.UnpairedDataset.read_views": "reads training files",
    "mosaicgan.data.synth.random_crop": "crops a training photo",
    "mosaicgan.find.search.find_mosaic": "a mask",
    "mosaicgan.find.search.regions_mask": "a mask",
    "mosaicgan.find.search.luma": "the luma of the image it is given",
    "mosaicgan.find.grid.grid_regions": "masks (or a finer grid to look on)",
    "mosaicgan.find.edge.refine": "a mask",
    "mosaicgan.find.learned.mosaic_probability": "a probability map, not pixels",
    "mosaicgan.find.learned.find_learned": "a mask",
    "mosaicgan.find.learned.large_components": "a mask",
    "mosaicgan.find.learned.decision": "a fast-path decision (timings), no pixels",
    "mosaicgan.find.combined.Finding.mask": "a mask",
    "mosaicgan.jobs.find.find_mosaic": "a mask",
    "mosaicgan.safety.mosaiced": "a mask",
    "mosaicgan.geometry.components": "masks",
    "mosaicgan.geometry.component_masks": "masks",
    "mosaicgan.models.restorer.feather_alpha": "an alpha mask",
    "mosaicgan.models.restorer.regions_of": "masks",
    "mosaicgan.models.restorer.crop_padded": "crops the array it is given",
    "mosaicgan.models.restorer.find_mosaics": "masks and grids",
    "mosaicgan.models.restorer.mask_and_grids": "masks and grids",
    "mosaicgan.jobs.restore.restore_regions": "masks (what restore would restore)",
    "mosaicgan.jobs.mosaic.MosaicVideoReport.regions_mask": "a mask",
    "mosaicgan.regions.base.boxes_mask": "a mask",
    "mosaicgan.regions.masks.box_mask": "a mask",
    "mosaicgan.regions.masks.ellipse_mask": "a mask",
    "mosaicgan.regions.masks.random_region": "a mask",
    "mosaicgan.regions.strength.redact_faces": "a mosaic, blur or fill of its input",
    "mosaicgan.regions.choose.cam_regions": "a classifier's map and the regions from it",
    "mosaicgan.video.temporal.union_mask": "a mask",
    "mosaicgan.find.pitch.concentration": "a grid's measure",
    "mosaicgan.find.pitch.own_concentration": "a grid's measure",
    "mosaicgan.find.pitch.to_integer_grid": "an affine map",
    "mosaicgan.find.pitch.resample": "resamples the pixels it is given",
    "mosaicgan.find.pitch.resample_back": "resamples the pixels it is given",
    "mosaicgan.find.cells.cell_ids": "grid cell indices",
    "mosaicgan.find.cells.match_cell_means": "shifts given pixels to given cell means",
    "mosaicgan.find.cells.block_means": "means of given pixels",
    "mosaicgan.find.cells.cell_grid": "means of given pixels on a grid",
    "mosaicgan.data.cells.CellDataset.views": "reads training files",
    "mosaicgan.data.cells.damaged_cells": "means of given pixels after a JPEG round trip",
    "mosaicgan.jobs.train.train_cells": "a run folder; its sheets are gated",
    "mosaicgan.train.cells.CellTrainer.extra_state": "no tensors",
    "mosaicgan.train.cells.CellTrainer.modules": "weights being trained (hole 2)",
    "mosaicgan.train.cells.CellTrainer.sample_masks": "masks",
    "mosaicgan.train.cells.CellTrainer.train_step": "losses",
    "mosaicgan.train.cells.charbonnier": "a loss",
    "mosaicgan.train.cells.psnr_against_bicubic": "figures",
    "mosaicgan.metrics.region_crops": "crops of given images",
    "mosaicgan.metrics.crop_features": "classifier features",
    "mosaicgan.metrics.feature_distances": "distances",
    "mosaicgan.models.translator.pad_to_multiple": "pads the tensor it is given",
    "mosaicgan.models.translator.ramp": "blending weights",
    # hiding: mosaics, blurs, fills, and the classical baselines (no generator)
    "mosaicgan.mosaic.pixelate": "a mosaic",
    "mosaicgan.mosaic.pixelate_array": "a mosaic",
    "mosaicgan.mosaic.mosaic_image": "a mosaic",
    "mosaicgan.mosaic.blur_array": "a blur",
    "mosaicgan.mosaic.solid_array": "a fill",
    "mosaicgan.jobs.mosaic.redact": "a mosaic, blur or fill",
    "mosaicgan.video.hiding.mosaic_in": "a mosaic",
    "mosaicgan.video.hiding.hide_in": "a mosaic, a blur or a solid fill",
    "mosaicgan.video.hiding.FixedMosaic.push": "a mosaic",
    "mosaicgan.video.hiding.FixedMosaic.flush": "a mosaic (returns nothing held)",
    "mosaicgan.video.hiding.TrackedMosaic.push": "a mosaic",
    "mosaicgan.video.hiding.TrackedMosaic.flush": "a mosaic",
    "mosaicgan.ui.anonymise.brushed": "a mask from brush strokes",
    "mosaicgan.ui.boxes.overlay": "boxes drawn on the given picture",
    "mosaicgan.baselines.bicubic_on_grid": "interpolates the mosaic's cells",
    "mosaicgan.baselines.bicubic_from_blocks": "interpolates the mosaic's cells",
    "mosaicgan.baselines.inpaint_telea": "OpenCV's inpainting",
    "mosaicgan.baselines.run_baseline": "the classical baselines above",
    # drawing: panels the caller screened first; the gate itself
    "mosaicgan.sheets.withheld": "a grey panel",
    "mosaicgan.sheets.sample_sheet": "lays out panels its caller screened "
                                     "(train.loop: test_gate_writers)",
    "mosaicgan.sheets.before_after_sheet": "lays out tiles its caller screened "
                                           "(demo, evaluate: test_gate_writers)",
    "mosaicgan.sheets.labelled": "scales and labels a tile it is given",
    "mosaicgan.sheets.heatmap_overlay": "a CAM's heat over the given image",
    "mosaicgan.jobs.evaluate.crop_grid": "lays out crops its caller screened",
    "mosaicgan.video.io.FrameProcessor.push": "a Protocol: no code",
    "mosaicgan.video.io.FrameProcessor.flush": "a Protocol: no code",
    "mosaicgan.video.io.PerFrame.push": "applies the caller's own function",
    "mosaicgan.video.io.PerFrame.flush": "holds nothing: returns []",
    "mosaicgan.video.processors.TranslateProcessor.flush": "holds nothing: returns []",
    # objects whose public surface is gated (checked below) and weights (hole 2)
    "mosaicgan.models.restorer.Restorer.from_checkpoint": "a Restorer: gated",
    "mosaicgan.models.restorer.load_restorer": "a Restorer: gated",
    "mosaicgan.models.translator.Translator.from_checkpoint": "a Translator: gated",
    "mosaicgan.models.translator.load_translator": "a Translator: gated",
    "mosaicgan.models.backends.build": "wraps a module its caller already holds",
    "mosaicgan.models.backends.fast_generator": "wraps a module its caller already holds",
    "mosaicgan.models.checkpoint.Checkpoint.state_dict": "weights (hole 2)",
    "mosaicgan.models.sharpness.interpolate_states": "weights (hole 2)",
    "mosaicgan.train.pix2pix.Pix2Pix.modules": "weights being trained (hole 2)",
    "mosaicgan.train.cyclegan.CycleGAN.modules": "weights being trained (hole 2)",
    "mosaicgan.train.loop.Trainer.modules": "weights being trained (hole 2)",
    "mosaicgan.train.pix2pix.Pix2Pix.train_step": "losses",
    "mosaicgan.train.cyclegan.CycleGAN.train_step": "losses",
    "mosaicgan.train.loop.Trainer.train_step": "losses",
    "mosaicgan.train.pix2pix.Pix2Pix.extra_state": "no tensors",
    "mosaicgan.train.cyclegan.CycleGAN.extra_state": "the image pools: generator output "
                                                     "kept for its discriminators, saved "
                                                     "with the weights (hole 2)",
    "mosaicgan.train.loop.Trainer.extra_state": "as the trainers' own",
    "mosaicgan.train.pool.ImagePool.query": "the pool of the trainer's own fakes (training "
                                            "only; hole 2)",
    "mosaicgan.train.pool.ImagePool.state": "as query",
    "mosaicgan.train.pix2pix.Pix2Pix.sample_masks": "masks",
    "mosaicgan.train.loop.Trainer.sample_masks": "masks",
    "mosaicgan.train.loop.run_training": "losses and paths; the sheets it writes are "
                                         "gated (test_gate_writers)",
    "mosaicgan.train.precision.frozen": "a context manager",
    "mosaicgan.jobs.train.train_pix2pix": "a run folder; its sheets are gated",
    "mosaicgan.jobs.train.train_cyclegan": "a run folder; its sheets are gated",
}


# --- what the walk finds ------------------------------------------------------------------

def public_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(mosaicgan.__path__, "mosaicgan.")
             if m.name != "mosaicgan.__main__"]
    if importlib.util.find_spec("gradio") is None:  # (the web app's extra not installed)
        names = [n for n in names if not n.startswith("mosaicgan.ui")]
    return [n for n in names if not any(part.startswith("_") for part in n.split("."))]


def public_callables() -> dict[str, Callable]:
    """``module.name`` / ``module.Class.member`` -> function, for everything public that is
    defined in the package (a name re-exported elsewhere, e.g. by ``api``, is the same
    object: checked once, where it is defined)."""
    found: dict[str, Callable] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if not inspect.isclass(obj):
                if callable(obj):
                    found[f"{module_name}.{name}"] = obj
                continue
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                if isinstance(value, property):
                    value = value.fget
                if isinstance(value, staticmethod | classmethod):
                    value = value.__func__
                if inspect.isfunction(value):
                    found[f"{module_name}.{name}.{member}"] = value
    return found


def may_return_pixels(fn: Callable) -> bool:
    try:
        returned = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return True
    return returned is inspect.Signature.empty or bool(MAY_BE_PIXELS.search(str(returned)))


def unlisted(callables: dict[str, Callable]) -> list[str]:
    return sorted(name for name, fn in callables.items()
                  if may_return_pixels(fn) and name not in GATED and name not in ALLOWED
                  and not name.startswith(tuple(m + "." for m in ALLOWED_MODULES)))


# --- the face fixture and detectors -------------------------------------------------------

class FaceEverywhere(FakeDetector):
    """Sees a face in every view, at a box larger than any view: whatever region the gate
    screens, a face overlaps it."""

    def __init__(self):
        super().__init__([Detection("FACE", 0.9, (0, 0, 1 << 14, 1 << 14))])


class NewFace:
    """Sees the astronaut's face in every image except ``shown``: an output with a face its
    input (``shown``) did not show."""

    def __init__(self, shown: np.ndarray):
        self.shown = shown
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        if image.shape == self.shown.shape and np.array_equal(image, self.shown):
            return []
        return [Detection("FACE", 0.9, ASTRONAUT_FACE)]


def mosaiced_face(side: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut (``side`` px) with her face mosaiced, and the face's mask."""
    import cv2

    clean = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    image = mosaic_image(clean, mask, 12)
    if side != 512:
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), (side, side),
                          interpolation=cv2.INTER_NEAREST) > 0
    return image, mask


def restorer(tiny_model: Path):
    from mosaicgan.models.restorer import Restorer

    return Restorer.from_checkpoint(tiny_model, device="cpu")


def translator(tiny_translation_model: Path):
    from mosaicgan.models.translator import Translator

    return Translator.from_checkpoint(tiny_translation_model, device="cpu")


# --- the gated callables, each called on the face -----------------------------------------

def keeps_the_face(restore: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``restore(image, mask) -> image``: without detections it changes the mosaiced face
    (so the generator's pixels would show); with a face seen it consults the gate and
    returns the face exactly as the input had it."""
    image, mask = mosaiced_face()
    with detector_replaced(FakeDetector()):
        ungated = restore(image, mask)
    assert not np.array_equal(ungated[mask], image[mask]), "the generator changed nothing"
    with detector_replaced(FaceEverywhere()) as seen:
        out = restore(image, mask)
    assert seen.calls > 0, "the gate was not consulted"
    np.testing.assert_array_equal(out[mask], image[mask])


def refuses_the_face(translate: Callable[[np.ndarray], np.ndarray | None]) -> None:
    """``translate(image) -> image or None`` (None: refused): without detections it
    writes an output; with a face seen in the output but not the input, it refuses."""
    image, _ = mosaiced_face(64)
    with detector_replaced(FakeDetector()):
        assert translate(image) is not None
    with detector_replaced(NewFace(image)) as seen:
        out = translate(image)
    assert seen.calls > 0, "the gate was not consulted"
    assert out is None, "an output with a face its input did not show was returned"


def check_restore(models):
    r = restorer(models["tiny_model"])
    keeps_the_face(lambda image, mask: r.restore(image, mask).image)


def check_restore_image(models):
    from mosaicgan.jobs.restore import restore_image

    r = restorer(models["tiny_model"])
    keeps_the_face(lambda image, mask: restore_image(image, r, mask).image)


def processor(restorer_, mask, tracked: bool):
    from mosaicgan.video.processors import RestoreProcessor, RestoreVideoReport
    from mosaicgan.video.temporal import RegionTracker

    tracker = RegionTracker(hold=0, max_gap=2, lead=0, smooth=2, smoothing="median",
                            shape="mask", detect_every=1) if tracked else None
    return RestoreProcessor(restorer_, RestoreVideoReport(Path("in.mp4"), Path("out.mp4")),
                            mask=mask, tracker=tracker, log=lambda _: None)


def check_restore_push(models):
    r = restorer(models["tiny_model"])

    def restore(image, mask):
        (out,) = processor(r, mask, tracked=False).push([image], [0])
        return out
    keeps_the_face(restore)


def check_restore_flush(models):
    r = restorer(models["tiny_model"])

    def restore(image, mask):
        p = processor(r, mask, tracked=True)
        held = p.push([image] * 3, [0, 1, 2])
        flushed = p.flush()
        assert flushed and len(held) + len(flushed) == 3  # (flush returns frames here)
        return flushed[-1]
    keeps_the_face(restore)


def check_translate(models):
    t = translator(models["tiny_translation_model"])
    refuses_the_face(lambda image: t.translate(image).image)


def check_translate_batch(models):
    t = translator(models["tiny_translation_model"])

    def translate(image):
        results = t.translate_batch([image, image])
        assert len(results) == 2 and (results[0].image is None) == (results[1].image is None)
        return results[1].image
    refuses_the_face(translate)


def check_translate_push(models):
    from mosaicgan.video.processors import OutputRefused, TranslateProcessor

    t = translator(models["tiny_translation_model"])

    def translate(image):
        try:
            (out,) = TranslateProcessor(t, Path("in.mp4")).push([image], [0])
        except OutputRefused:
            return None
        return out
    refuses_the_face(translate)


def check_screened(models):
    from mosaicgan.sheets import WITHHELD_GREY, screened

    image, mask = mosaiced_face()
    clean = photo("astronaut")
    # A restoration (the rule looks inside the mask), then a translation (a face the
    # source did not show).
    for m, detector in ((mask, FaceEverywhere()), (None, NewFace(image))):
        with detector_replaced(detector) as seen:
            panel = screened(image, clean, m)
        assert seen.calls > 0, "the gate was not consulted"
        assert (panel[mask] == WITHHELD_GREY).mean() > 0.8


def check_screened_rows(models):
    from mosaicgan.sheets import WITHHELD_GREY, screened_rows

    image, mask = mosaiced_face()
    clean = photo("astronaut")
    with detector_replaced(NewFace(image)) as seen:
        [[first, panel]] = screened_rows([[image, clean]])
    assert seen.calls > 0 and first is image
    assert (panel[mask] == WITHHELD_GREY).mean() > 0.8


GATED: dict[str, Callable[[dict], None]] = {
    "mosaicgan.models.restorer.Restorer.restore": check_restore,
    "mosaicgan.jobs.restore.restore_image": check_restore_image,
    "mosaicgan.video.processors.RestoreProcessor.push": check_restore_push,
    "mosaicgan.video.processors.RestoreProcessor.flush": check_restore_flush,
    "mosaicgan.models.translator.Translator.translate": check_translate,
    "mosaicgan.models.translator.Translator.translate_batch": check_translate_batch,
    "mosaicgan.video.processors.TranslateProcessor.push": check_translate_push,
    "mosaicgan.sheets.screened": check_screened,
    "mosaicgan.sheets.screened_rows": check_screened_rows,
}


# --- the tests ----------------------------------------------------------------------------

def test_every_pixel_callable_is_gated_or_allowed():
    callables = public_callables()
    assert len(callables) > 300  # the walk did find the package
    new = unlisted(callables)
    assert not new, (
        "public callables that may return pixels, neither gated nor allowed (make them "
        "private, gate them and add a check to GATED, or say in ALLOWED why their pixels "
        f"are not a generator's): {new}")
    stale = sorted((set(GATED) | set(ALLOWED)) - set(callables))
    assert not stale, f"listed here but no longer public: {stale}"


def test_a_new_ungated_method_is_caught(monkeypatch):
    """The walk sees a public method added to the Restorer that hands out the generator's
    output (as ``Restorer.G`` and ``prefilled`` once did)."""
    from mosaicgan.models.restorer import Restorer

    def generated(self, plans, batch=8) -> list[np.ndarray]:
        return self._generated(plans, batch)

    generated.__module__ = Restorer.__module__
    name = "mosaicgan.models.restorer.Restorer.generated"
    assert name not in unlisted(public_callables())
    monkeypatch.setattr(Restorer, "generated", generated, raising=False)
    assert name in unlisted(public_callables())


class Models(dict):
    """The models a check asks for (``models["tiny_model"]``), trained on first use."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def __missing__(self, name: str) -> Path:
        self[name] = self.request.getfixturevalue(name)
        return self[name]


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_callable_consults_the_gate_on_a_face(name, request):
    GATED[name](Models(request))


def reachable(obj, path: str, depth: int = 4, seen: set[int] | None = None
              ) -> list[tuple[str, object]]:
    """Everything reachable from ``obj`` through public attributes, lists and dicts."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return []
    seen.add(id(obj))
    found = [(path, obj)]
    if isinstance(obj, torch.nn.Module | torch.Tensor | np.ndarray | str | bytes | Path):
        return found
    if isinstance(obj, dict):
        items = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple | set | frozenset):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    elif hasattr(obj, "__dict__") and not inspect.ismodule(obj) and not callable(obj):
        items = [(f"{path}.{k}", v) for k, v in vars(obj).items() if not k.startswith("_")]
    else:
        items = []
    for p, v in items:
        found += reachable(v, p, depth - 1, seen)
    return found


def test_no_generator_is_reachable_through_public_attributes(tiny_model,
                                                             tiny_translation_model):
    """``Restorer.G`` and ``Translator.G`` were public: a network, or the fast path that
    runs one, must not be reachable from anything public that restores or translates."""
    from mosaicgan.models.backends import FastGenerator
    from mosaicgan.video.processors import TranslateProcessor

    r, t = restorer(tiny_model), translator(tiny_translation_model)
    objects = {"restorer": r, "translator": t,
               "restore_processor": processor(r, np.zeros((8, 8), bool), tracked=True),
               "translate_processor": TranslateProcessor(t, Path("in.mp4"))}
    for name, obj in objects.items():
        found = reachable(obj, name)
        assert len(found) > 3, name
        nets = [p for p, v in found if isinstance(v, torch.nn.Module | FastGenerator)]
        assert not nets, f"a generator reachable through public attributes: {nets}"
    # The ones that were public are gone.
    assert not any(hasattr(x, n) for x in (r, t) for n in ("G", "prefilled", "plan", "run"))
