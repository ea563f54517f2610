"""The safety gate: no output shows a face or nudity that its input did not show there.

No flag, option or argument turns it off, and nothing public takes another detector.

- Training data: images with exposed nudity are left out (:func:`screen_image`).
- Restoration: a restored region in which a face or nudity is detected is not written
  (:func:`screen_region`); it stays as the input had it.
- Translation: an output with nudity anywhere, or with a face where the input showed
  none or showed it with markedly less detail (a mosaic, a blur, a fill, heavy
  downscaling), is refused (:func:`screen_translation`).
- Training pairs: a pair whose target shows a face its input hides, or nudity, is left
  out (:func:`screen_training_pair`); unpaired domains likewise (:func:`screen_domain_image`).
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
from .detect.shared import VerifiedDetector, shared_detector
from .find import find_mosaic
from .find.learned import find_learned
from .geometry import Box, box_iou, boxes_overlap, context_box, mask_boxes
from .safety_detail import is_blurred_face, shows_more_detail

FACE_CLASSES = frozenset({"FACE", "FACE_FEMALE", "FACE_MALE"})
# Exposed classes that mean nudity; exposed feet, armpits and belly do not.
NUDITY_CLASSES = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
})
TRAINING_NUDITY_SCORE = 0.5  # training images are skipped at this score
OUTPUT_SCORE = 0.25  # nudity in restored/translated outputs: err on the side of caution
# ...except these classes, which fire on still lifes (fruit, glass, leaves, wings): just above
# the highest score measured on restored random regions of the Debian photos (benchmarks/
# face_recall.py; buttocks 0.44, genitalia 0.41 and 0.44, breast 0.27); below the training
# screen's 0.5. The other classes never fired there and stay at OUTPUT_SCORE.
NUDITY_SCORES = {"BUTTOCKS_EXPOSED": 0.45, "FEMALE_GENITALIA_EXPOSED": 0.45,
                 "MALE_GENITALIA_EXPOSED": 0.45, "FEMALE_BREAST_EXPOSED": 0.3}
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
    return _without_animals(image, shared_detector().detect(image))


def _without_animals(image: np.ndarray, found: list[Detection]) -> list[Detection]:
    """``found`` (in ``image``'s pixels) without animals' faces, judged on ``image`` itself.
    Only detections that count as faces are judged (every rule here reads faces through
    :func:`is_face` or more strictly): the classifier runs for nothing else."""
    detector = shared_detector()
    faces = [d for d in found if is_face(d)]
    if not faces or not isinstance(detector, VerifiedDetector):
        return found
    kept = {id(d) for d in detector.without_animals(image, faces)}
    return [d for d in found if not is_face(d) or id(d) in kept]


def is_face(d: Detection) -> bool:
    return d.label in FACE_CLASSES and d.score >= FACE_SCORES[d.label]


def is_nudity(d: Detection, score: float = OUTPUT_SCORE) -> bool:
    return d.label in NUDITY_CLASSES and d.score >= max(score, NUDITY_SCORES.get(d.label, 0.0))


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
    found = shared_detector().detect(image)  # (nudity only: no face is judged)
    return ["nudity"] if any(is_nudity(d, TRAINING_NUDITY_SCORE) for d in found) else []


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
    # (animals' faces judged once, on the picture itself, not in each reduced view)
    return reasons(_without_animals(image, found))


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
    seen = shifted(shared_detector().detect(np.ascontiguousarray(crop)), cx, cy, scale)
    return [d for d in seen if boxes_overlap(d.box, box)]


def screen_translation(source: np.ndarray, output: np.ndarray) -> list[str]:
    """The reasons a translated ``output`` of ``source`` may not be written.

    ``"nudity"`` when the output shows nudity anywhere; ``"face"`` when it shows a face
    the input did not show there (:func:`hidden_faces`): a model that turns a mosaiced,
    blurred or downscaled face into a clean one is refused, one that keeps a visible face
    is not.
    """
    check_rgb_uint8(source)
    check_rgb_uint8(output)
    found = _detect(output)
    out = ["nudity"] if any(is_nudity(d) for d in found) else []
    faces = [d.box for d in found if is_face(d)]
    if faces and hidden_faces(source, output, faces):
        out.insert(0, "face")
    return out


def hidden_faces(source: np.ndarray, output: np.ndarray, faces: list[Box],
                 source_found: list[Detection] | None = None) -> list[Box]:
    """The output's ``faces`` that the input did not show: no face the input clearly
    showed matches one (IoU >= 0.3), or the output shows it with markedly more detail
    than the input there (:func:`mosaicgan.safety_detail.shows_more_detail`: a blur, a
    mosaic, a fill or heavy downscaling hid it, even where a face is still detected).

    source_found: the detector's findings in ``source``, when already known.
    """
    shown = _shown_faces(source, output, source_found)
    return [f for f in faces if not any(box_iou(f, s) >= MATCH_IOU for s in shown)
            or shows_more_detail(source, output, f)]


def _shown_faces(source: np.ndarray, output: np.ndarray,
                 found: list[Detection] | None = None) -> list[Box]:
    """Faces the input clearly shows (a face at :data:`SHOWN_FACE_SCORE`, not inside a
    mosaic), in the output's pixels (the two may differ in size)."""
    found = _detect(source) if found is None else found
    faces = [d.box for d in found if d.label in FACE_CLASSES and d.score >= SHOWN_FACE_SCORE]
    if not faces:
        return []
    mosaic = mosaiced(source)
    shown = [f for f in faces if _inside(mosaic, f) < 0.3]
    sy, sx = output.shape[0] / source.shape[0], output.shape[1] / source.shape[1]
    return [(round(x * sx), round(y * sy), round(w * sx), round(h * sy)) for x, y, w, h in shown]


def mosaiced(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: where either finder, the grid model or the learned one, sees a
    mosaic. The gate takes the union: counting more of an input as hidden can only make
    it stricter."""
    return find_mosaic(image) | find_learned(image)


def _inside(mask: np.ndarray, box: Box) -> float:
    """The fraction of ``box`` that ``mask`` covers (0 for a box outside the image)."""
    x, y, w, h = box
    part = mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)]
    return float(part.mean()) if part.size else 0.0


def screen_training_pair(source: np.ndarray, target: np.ndarray,
                         mask: np.ndarray | None = None) -> list[str]:
    """Why a training pair (input ``source``, target ``target``) may not be used.

    ``"face"`` when the target shows a face that the input hides there: for a translation
    pair the translation rule (:func:`hidden_faces`); for a restoration pair (``mask``
    given) a face that overlaps the mask (as :func:`screen_pair`) or that the target shows
    with markedly more detail (outside the mask the two should be one picture, so a weak
    face seen alike in both is no reason). ``"nudity"`` when either image shows it at the
    training score. No model learns to reveal a face, whether its weights stay here or
    are exported.
    """
    check_rgb_uint8(source)
    check_rgb_uint8(target)
    found_source, found_target = _detect(source), _detect(target)
    out = []
    faces = [d.box for d in found_target if is_face(d)]
    if mask is None:
        revealed = bool(faces) and bool(hidden_faces(source, target, faces, found_source))
    else:
        revealed = any(_inside(mask, f) > 0 or shows_more_detail(source, target, f)
                       for f in faces)
    if revealed:
        out.append("face")
    if any(is_nudity(d, TRAINING_NUDITY_SCORE) for d in found_source + found_target):
        out.append("nudity")
    return out


def screen_domain_image(image: np.ndarray) -> dict[str, bool]:
    """What the unpaired (CycleGAN) screen needs to know of one training image.

    ``nudity`` (at the training score); ``shows_face``: a face in the clear (not inside a
    mosaic, not blurred); ``hides``: a mosaic, or a blurred face. A domain whose images
    hide faces must not be paired with one whose images show them: the model would learn
    to reveal faces (:func:`mosaicgan.jobs.train.screen_dataset`).
    """
    check_rgb_uint8(image)
    found = _detect(image)
    faces = [d.box for d in found if is_face(d)]
    mosaic = mosaiced(image)
    blurred = [f for f in faces if is_blurred_face(image, f)]
    clear = [f for f in faces if f not in blurred and _inside(mosaic, f) < 0.3]
    return {"nudity": any(is_nudity(d, TRAINING_NUDITY_SCORE) for d in found),
            "shows_face": bool(clear), "hides": bool(mosaic.any() or blurred)}


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

