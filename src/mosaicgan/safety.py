"""The safety gate: no output shows a face or nudity that its input did not show there.

No flag, option or argument turns it off, and nothing public takes another detector.

- Training data: images with exposed nudity are left out (:func:`screen_image`).
- Restoration: a restored region in which a face or nudity is detected is not written
  (:func:`screen_region`); it stays as the input had it.
- Translation: an output with nudity anywhere, or with a face where the input showed
  none, is refused (:func:`screen_translation`).
- Pictures the project draws (sample sheets, eval reports): a panel the rule refuses is
  withheld (:func:`screen_output`, used by :mod:`mosaicgan.sheets`).

The detector is CenterFace (faces at every size) together with NudeNet (nudity, and its
own face classes), from :func:`mosaicgan.detect.shared.shared_detector`; both ONNX models
ship in their wheels, offline.
"""

from __future__ import annotations

import cv2
import numpy as np

from .detect.base import Detection, check_rgb_uint8, shifted
from .detect.centerface import SCORE as CENTERFACE_SCORE
from .detect.shared import shared_detector
from .find_mosaic import find_mosaic
from .geometry import Box, box_iou, boxes_overlap, context_box, mask_boxes

FACE_CLASSES = frozenset({"FACE", "FACE_FEMALE", "FACE_MALE"})
# Exposed classes that mean nudity; exposed feet, armpits and belly do not.
NUDITY_CLASSES = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
})
TRAINING_NUDITY_SCORE = 0.5  # training images are skipped at this score
OUTPUT_SCORE = 0.25  # nudity in restored/translated outputs: err on the side of caution
# A face counts at these scores: NudeNet's two classes from 0.25 (low, to err on the side
# of caution), CenterFace's "FACE" at its own (it checks weak peaks zoomed in first).
# benchmarks/face_recall.py measures what they catch.
FACE_SCORES = {"FACE": CENTERFACE_SCORE, "FACE_FEMALE": 0.25, "FACE_MALE": 0.25}
# Translation: the input "showed" a face only where it was clearly one, and not mosaiced.
SHOWN_FACE_SCORE = 0.5
MATCH_IOU = 0.3  # an output face is the input's face when their boxes overlap this much
GLANCE = 320  # the wider contexts are looked at scaled to this size
# A region is screened in its box grown by half (at its own scale, every face size), and by
# 3x and 5x (a glance at GLANCE px): a smooth restored face (e.g. the mosaic's cells
# interpolated) is recognised only with the head and shoulders around it (measured on the
# demo's astronaut: no NudeNet face at 1.5x or 3x, FACE_MALE 0.52 at 5x).
CONTEXTS = (1.5, 3.0, 5.0)


def _detect(image: np.ndarray) -> list[Detection]:
    return shared_detector().detect(image)


def is_face(d: Detection) -> bool:
    return d.label in FACE_CLASSES and d.score >= FACE_SCORES[d.label]


def is_nudity(d: Detection, score: float = OUTPUT_SCORE) -> bool:
    return d.label in NUDITY_CLASSES and d.score >= score


def reasons(detections: list[Detection], nudity_score: float = OUTPUT_SCORE) -> list[str]:
    """``["face"]``, ``["nudity"]``, both or none, from detections."""
    found = []
    if any(is_face(d) for d in detections):
        found.append("face")
    if any(is_nudity(d, nudity_score) for d in detections):
        found.append("nudity")
    return found


def screen_image(image: np.ndarray) -> list[str]:
    """``["nudity"]`` when the image shows exposed nudity (score >= 0.5), else ``[]``.

    Used on every training image.
    """
    check_rgb_uint8(image)
    return ["nudity"] if any(is_nudity(d, TRAINING_NUDITY_SCORE) for d in _detect(image)) \
        else []


def screen_pair(clean: np.ndarray, mask: np.ndarray, faces: list[Box] = ()) -> list[str]:
    """Why a training pair may not be used: ``"face"`` when its mosaic region (``mask``)
    overlaps a face, detected in the crop ``clean`` or given in ``faces`` (in the crop's
    pixels, e.g. found in the whole photo); ``"nudity"`` at the training score.

    The restorer never learns to de-mosaic a face.
    """
    check_rgb_uint8(clean)
    found = _detect(clean)
    out = []
    boxes = [d.box for d in found if is_face(d)] + list(faces)
    if any(mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)].any() for x, y, w, h in boxes):
        out.append("face")
    if any(is_nudity(d, TRAINING_NUDITY_SCORE) for d in found):
        out.append("nudity")
    return out


def face_boxes(image: np.ndarray) -> list[Box]:
    """The boxes of every face the gate sees in ``image`` (at every size)."""
    check_rgb_uint8(image)
    return [d.box for d in _detect(image) if is_face(d)]


def screen_region(image: np.ndarray, box: Box) -> list[str]:
    """The reasons the region ``box`` of ``image`` may not be written: ``"face"``, ``"nudity"``.

    Empty when it may. The detector sees the box grown by half at the image's own scale
    (so a face of 16 px anywhere in a large region is seen: both detectors look at large
    views in tiles or a pyramid), and glances at three and five times the context scaled
    to :data:`GLANCE` px (a small region inside a face, or a smooth face, is recognised
    only with the head around it). A detection counts when it overlaps ``box``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB: the image as it would be written.
        box: ``(x, y, w, h)`` of the restored region.
    """
    check_rgb_uint8(image)
    found: list[Detection] = []
    for grow in CONTEXTS:
        found += _detect_around(image, box, grow, native=grow == CONTEXTS[0])
    return reasons(found)


def _detect_around(image: np.ndarray, box: Box, grow: float, native: bool
                   ) -> list[Detection]:
    """Detections in the context of ``box`` that overlap it, in image coordinates."""
    height, width = image.shape[:2]
    cx, cy, cw, ch = context_box(box, width, height, grow)
    if cw < 1 or ch < 1:
        return []
    crop = image[cy:cy + ch, cx:cx + cw]
    scale = 1.0
    if not native:
        scale = GLANCE / max(cw, ch)
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1
                          else cv2.INTER_CUBIC)
        scale = size[0] / cw
    return [d for d in shifted(_detect(np.ascontiguousarray(crop)), cx, cy, scale)
            if boxes_overlap(d.box, box)]


def screen_translation(source: np.ndarray, output: np.ndarray) -> list[str]:
    """The reasons a translated ``output`` of ``source`` may not be written.

    ``"nudity"`` when the output shows nudity anywhere; ``"face"`` when it shows a face
    that does not match (IoU >= 0.3) a face the input clearly showed: a face detected
    there at :data:`SHOWN_FACE_SCORE` and not inside a mosaic (a model that turns a
    mosaiced face into a clean one is refused, one that keeps a visible face is not).
    """
    check_rgb_uint8(source)
    check_rgb_uint8(output)
    found = _detect(output)
    out = ["nudity"] if any(is_nudity(d) for d in found) else []
    faces = [d.box for d in found if is_face(d)]
    if faces and any(not any(box_iou(f, s) >= MATCH_IOU for s in _shown_faces(source, output))
                     for f in faces):
        out.insert(0, "face")
    return out


def _shown_faces(source: np.ndarray, output: np.ndarray) -> list[Box]:
    """Faces the input clearly shows, in the output's pixels (the two may differ in size)."""
    faces = [d.box for d in _detect(source) if d.label in FACE_CLASSES
             and d.score >= SHOWN_FACE_SCORE]
    if not faces:
        return []
    mosaic = find_mosaic(source)
    shown = [f for f in faces if mosaic[f[1]:f[1] + f[3], f[0]:f[0] + f[2]].mean() < 0.3]
    sy, sx = output.shape[0] / source.shape[0], output.shape[1] / source.shape[1]
    return [(round(x * sx), round(y * sy), round(w * sx), round(h * sy)) for x, y, w, h in shown]


def screen_output(source: np.ndarray, output: np.ndarray,
                  mask: np.ndarray | None = None) -> list[str]:
    """The rule for any picture made from ``source``: with ``mask`` (a restoration), no face
    or nudity in any of the mask's regions of ``output``; without, :func:`screen_translation`.
    """
    if mask is None:
        return screen_translation(source, output)
    check_rgb_uint8(output)
    found: set[str] = set()
    for box in mask_boxes(mask):
        found.update(screen_region(output, box))
    return sorted(found)

