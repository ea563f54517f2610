"""A second look at weak face detections: human faces from animal faces and textures.

The gate counts a face from CenterFace at 0.3 and from NudeNet's face classes at 0.25,
low on purpose; at those scores both fire on textures (fabric, fruit, leaves) and animals
(the demo's cat). A weak detection is therefore looked at again, and vetoed only when it
fails every check below; a strong one is never vetoed, nor is anything that is not a face.

- CenterFace below :data:`STRONG_FACE`: kept when its five landmarks lie as a human face's
  do (:func:`human_geometry`, ranges measured on real faces, widened), or NudeNet sees a
  face on the same object.
- NudeNet's FACE_FEMALE / FACE_MALE below :data:`STRONG_NUDENET_FACE`: kept when
  CenterFace sees a face on the same object, or at :data:`SUPPORT` when it looks again,
  zoomed in on the box (a real face scores >= 0.28 there; the cat 0.10).
- Any face below :data:`SURE_FACE`: an animal's when an ImageNet classifier sees an animal
  on the box and around it (:func:`is_animal_face`, :mod:`mosaicgan.detect.animal`). The
  gate asks this on the whole picture, after the views it looked through are mapped back
  (a face seen in a reduced glance is judged at the picture's own resolution).

All figures: benchmarks/face_recall.py (recall on labelled and composited real faces, and
regions refused on face-free photos), tuned on the Debian photos only.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..geometry import Box, box_iou, context_box
from .base import Detection, same_object, shifted

CENTERFACE = "FACE"
NUDENET_FACES = frozenset({"FACE_FEMALE", "FACE_MALE"})
FACE_LABELS = NUDENET_FACES | {CENTERFACE}
# Scores from which a detection is never vetoed. CenterFace: 0.5 (126 of the 130 labelled
# and composited faces >= 16 px have a detection at 0.5 or more; the false alarms on the
# Debian photos scored 0.39-0.42, and the weakest real faces seen by CenterFace alone 0.46:
# below 0.5 the geometry check decides, and it passed all 18 weak real detections).
# NudeNet: 0.7, above every NudeNet face measured on a non-face (Debian: 0.29-0.46; the
# demo's cat restored smoothly: 0.25-0.63).
STRONG_FACE = 0.5
STRONG_NUDENET_FACE = 0.7
# Faces from which neither detector's detection is judged as an animal's: the animals'
# faces measured scored at most 0.54 (CenterFace, horses) and 0.63 (NudeNet, the cat).
SURE_FACE = 0.8
# CenterFace's zoomed second look that backs a weak NudeNet face: on the real faces >= 16 px
# every NudeNet face scored >= 0.28 there (1 % below 0.38); on the Debian false alarms
# 0.00-0.22, the demo's cat 0.07-0.10.
SUPPORT = 0.25
LOOK_CONTEXT = 3.0  # the second look sees the box grown 3x...
LOOK_FACE = 64  # ...scaled so the face is about this wide (at most 8x)
AGREE_SCORE = 0.25  # the other detector agrees at this score (NudeNet's own floor)
# Human geometry of CenterFace's landmarks, in eye distances (d) along and across the eye
# line. Measured on the real faces' detections (min / max): mouth width 0.65 / 0.88 d,
# nose 0.46 / 1.76 d below the eyes, mouth 0.80 / 4.03 d below, eye line tilt -19 / 11
# degrees, eye distance 0.13 / 0.57 of the box width; widened by about half the spread.
MOUTH_WIDTH = (0.5, 1.05)
NOSE_DROP = (0.3, 2.3)
MOUTH_DROP = (0.6, 5.0)
MAX_TILT = 35.0  # degrees
EYES_OF_BOX = (0.08, 0.7)


class FaceLooker(Protocol):
    def detect_at(self, image: np.ndarray, scale: float, score: float = ...
                  ) -> list[Detection]: ...


class AnimalLooker(Protocol):
    def is_animal(self, image: np.ndarray, box: Box) -> bool: ...


def human_geometry(d: Detection) -> bool:
    """Whether a CenterFace detection's five points lie as a human face's do (eyes about
    level and apart, nose and then mouth below them, mouth about as wide as the eyes are
    apart). True without points: nothing to judge, so nothing is vetoed."""
    if d.landmarks is None or len(d.landmarks) < 10:
        return True
    p = np.asarray(d.landmarks[:10], float).reshape(5, 2)
    left, right, nose, mouth_l, mouth_r = p
    across = right - left
    eyes = float(np.hypot(*across))
    if eyes < 1e-6 or d.box[2] <= 0:
        return False
    along = across / eyes
    down = np.array([-along[1], along[0]])
    centre = (left + right) / 2
    tilt = float(np.degrees(np.arctan2(across[1], across[0])))
    checks = (
        abs(tilt) <= MAX_TILT,
        EYES_OF_BOX[0] <= eyes / d.box[2] <= EYES_OF_BOX[1],
        NOSE_DROP[0] <= float((nose - centre) @ down) / eyes <= NOSE_DROP[1],
        MOUTH_DROP[0] <= float(((mouth_l + mouth_r) / 2 - centre) @ down) / eyes
        <= MOUTH_DROP[1],
        MOUTH_WIDTH[0] <= float(np.hypot(*(mouth_r - mouth_l))) / eyes <= MOUTH_WIDTH[1],
    )
    return all(checks)


def second_look(image: np.ndarray, box, looker: FaceLooker) -> float:
    """CenterFace's best score for ``box`` seen again zoomed in (0 if not seen)."""
    height, width = image.shape[:2]
    cx, cy, cw, ch = context_box(box, width, height, LOOK_CONTEXT)
    if cw < 2 or ch < 2:
        return 0.0
    scale = min(8.0, max(1.0, LOOK_FACE / max(box[2], box[3], 1)))
    crop = np.ascontiguousarray(image[cy:cy + ch, cx:cx + cw])
    seen = [d.score for d in shifted(looker.detect_at(crop, scale, SUPPORT), cx, cy)
            if box_iou(d.box, box) > 0.3]
    return max(seen, default=0.0)


def vetoed(image: np.ndarray, d: Detection, detections: list[Detection],
           looker: FaceLooker) -> bool:
    """Whether the weak face detection ``d`` fails its second look (never a strong one)."""
    if d.label == CENTERFACE:
        if d.score >= STRONG_FACE or human_geometry(d):
            return False
        return not any(o.label in NUDENET_FACES and o.score >= AGREE_SCORE
                       and same_object(o.box, d.box) for o in detections)
    if d.label in NUDENET_FACES:
        if d.score >= STRONG_NUDENET_FACE:
            return False
        if any(o.label == CENTERFACE and same_object(o.box, d.box) for o in detections):
            return False
        return second_look(image, d.box, looker) < SUPPORT
    return False


def verified(image: np.ndarray, detections: list[Detection], looker: FaceLooker
             ) -> list[Detection]:
    """``detections`` without the weak face detections that fail their second look."""
    return [d for d in detections if not vetoed(image, d, detections, looker)]


def is_animal_face(image: np.ndarray, d: Detection, animals: AnimalLooker) -> bool:
    """Whether the face detection ``d`` (below :data:`SURE_FACE`) is an animal's, judged in
    ``image`` at its own resolution (the whole picture, not a reduced view of it)."""
    return d.label in FACE_LABELS and d.score < SURE_FACE and animals.is_animal(image, d.box)
