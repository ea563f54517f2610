"""The safety gate. No flag, option or argument turns it off.

- Training data: images with exposed nudity are left out (:func:`screen_image`).
- Restoration: a restored region in which a face or nudity is detected is not written
  (:func:`screen_region`); it stays as the input had it.
- Translation: outputs with nudity are refused (:func:`screen_image` on the output).

The detector is NudeNet 3.4 (its ONNX model ships in the ``nudenet`` wheel; offline).
Any object with a ``detect(image) -> list[Detection]`` method can stand in for it, which
is how the tests inject detections without any nude image in the project.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]

FACE_CLASSES = frozenset({"FACE_FEMALE", "FACE_MALE"})
# Exposed classes that mean nudity; exposed feet, armpits and belly do not.
NUDITY_CLASSES = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
})
TRAINING_NUDITY_SCORE = 0.5  # training images are skipped at this score
OUTPUT_SCORE = 0.25  # restored/translated outputs: err on the side of caution
DETECTOR_SIZE = 320  # NudeNet's working resolution
# A region is screened in its box grown by half, by 3x and by 5x: a smooth restored face
# (e.g. the mosaic's cells interpolated) is recognised only with the head and shoulders
# around it (measured on the demo's astronaut: no face at 1.5x or 3x, FACE_MALE 0.52 at 5x).
CONTEXTS = (1.5, 3.0, 5.0)


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box  # (x, y, w, h) in the screened image's pixels


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in an ``(H, W, 3)`` uint8 RGB image."""
        ...


class NudeNetDetector:
    """NudeNet behind a strict interface.

    ``nudenet.NudeDetector.detect`` takes a path or a BGR uint8 array; a float array
    silently returns nothing and a missing file raises AttributeError. Here only an RGB
    uint8 array is accepted, anything else raises TypeError/ValueError.
    """

    def __init__(self) -> None:
        from nudenet import NudeDetector

        self._net = NudeDetector()
        self._lock = threading.Lock()  # one ONNX session, shared

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_rgb_uint8(image)
        if min(image.shape[:2]) < 2:
            return []
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self._lock:
            raw = self._net.detect(bgr)
        return [Detection(d["class"], float(d["score"]), tuple(int(v) for v in d["box"]))
                for d in raw]


def check_rgb_uint8(image: object) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an (H, W, 3) uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")


_default: Detector | None = None
_default_lock = threading.Lock()


def default_detector() -> Detector:
    """The shared NudeNet detector, built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = NudeNetDetector()
        return _default


def reasons(detections: list[Detection], face_score: float | None,
            nudity_score: float) -> list[str]:
    """``["face"]``, ``["nudity"]``, both or none, from detections and score thresholds."""
    found = []
    if face_score is not None and any(d.label in FACE_CLASSES and d.score >= face_score
                                      for d in detections):
        found.append("face")
    if any(d.label in NUDITY_CLASSES and d.score >= nudity_score for d in detections):
        found.append("nudity")
    return found


def screen_image(image: np.ndarray, detector: Detector | None = None, *,
                 nudity_score: float = TRAINING_NUDITY_SCORE) -> list[str]:
    """``["nudity"]`` when the whole image shows exposed nudity, else ``[]``.

    Used on every training image (at 0.5) and every translated output (at 0.25).
    """
    check_rgb_uint8(image)
    detector = detector or default_detector()
    return reasons(detector.detect(image), None, nudity_score)


def context_box(box: Box, width: int, height: int, grow: float) -> Box:
    """``box`` grown by ``grow`` about its centre, clipped to the image."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    gw, gh = w * grow, h * grow
    x0, y0 = max(0, int(np.floor(cx - gw / 2))), max(0, int(np.floor(cy - gh / 2)))
    x1, y1 = min(width, int(np.ceil(cx + gw / 2))), min(height, int(np.ceil(cy + gh / 2)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def screen_region(image: np.ndarray, box: Box, detector: Detector | None = None) -> list[str]:
    """The reasons the region ``box`` of ``image`` may not be written: ``"face"``, ``"nudity"``.

    Empty when it may. The detector sees the box grown by half, scaled so its longer side
    is the detector's working size, and again with three and five times the context (a small
    region inside a face, or a smooth face, is recognised only with the head around it). A
    detection counts when it overlaps ``box``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB: the image as it would be written.
        box: ``(x, y, w, h)`` of the restored region.
    """
    check_rgb_uint8(image)
    detector = detector or default_detector()
    found: list[Detection] = []
    for grow in CONTEXTS:
        found += _detect_around(image, box, grow, detector)
    return reasons(found, OUTPUT_SCORE, OUTPUT_SCORE)


def _detect_around(image: np.ndarray, box: Box, grow: float,
                   detector: Detector) -> list[Detection]:
    """Detections in the context of ``box`` that overlap it, in image coordinates."""
    height, width = image.shape[:2]
    cx, cy, cw, ch = context_box(box, width, height, grow)
    if cw < 1 or ch < 1:
        return []
    scale = DETECTOR_SIZE / max(cw, ch)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = cv2.resize(image[cy:cy + ch, cx:cx + cw], size, interpolation=interp)
    bx, by, bw, bh = box
    overlapping = []
    for d in detector.detect(crop):
        dx, dy, dw, dh = d.box
        x0, y0 = cx + dx / scale, cy + dy / scale
        x1, y1 = x0 + dw / scale, y0 + dh / scale
        if x0 < bx + bw and x1 > bx and y0 < by + bh and y1 > by:
            overlapping.append(Detection(d.label, d.score, (round(x0), round(y0),
                                                            round(x1 - x0), round(y1 - y0))))
    return overlapping
