"""The one detector the project uses: CenterFace and NudeNet together, built on first use.

The safety gate, ``--where face|nudity`` and the screening of training data all ask
:func:`shared_detector`; nothing public takes another detector. ``--where face`` uses
its CenterFace part alone (:func:`face_finder`). (The tests replace ``_detector``
through a fixture, to inject detections without any nude image.)
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from .base import Detection, Detector
from .verify import AnimalLooker, FaceLooker, is_animal_face, verified

_detector: Detector | None = None
_lock = threading.Lock()


class CombinedDetector:
    """The detections of several detectors, concatenated (each finds what it finds)."""

    def __init__(self, detectors: list[Detector]):
        self.detectors = detectors

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [d for detector in self.detectors for d in detector.detect(image)]


class FaceDetector(FaceLooker, Protocol):
    """CenterFace's two calls: a whole image, and one view of it (the second look)."""

    def detect(self, image: np.ndarray) -> list[Detection]: ...


class VerifiedDetector(CombinedDetector):
    """CenterFace and NudeNet together, their weak face detections given a second look
    (:mod:`mosaicgan.detect.verify`), and a judge of animals' faces that the gate asks on
    the whole picture (:meth:`without_animals`): what the gate uses."""

    def __init__(self, centerface: FaceDetector, nudenet: Detector,
                 animals: AnimalLooker | None = None):
        super().__init__([centerface, nudenet])
        self.faces = centerface  # (also what --where face uses alone: face_finder)
        self.animals = animals

    def detect(self, image: np.ndarray) -> list[Detection]:
        return verified(image, super().detect(image), self.faces)

    def without_animals(self, image: np.ndarray, detections: list[Detection]
                        ) -> list[Detection]:
        """``detections`` (in ``image``'s pixels) without the faces that are animals'."""
        if self.animals is None:
            return detections
        return [d for d in detections if not is_animal_face(image, d, self.animals)]


def shared_detector() -> Detector:
    """CenterFace (faces at every size) + NudeNet (nudity, and faces), weak faces checked
    again and animals' faces left out (:class:`VerifiedDetector`), built once."""
    global _detector
    with _lock:
        if _detector is None:
            from .animal import AnimalJudge
            from .nudenet import NudeNetDetector

            _detector = VerifiedDetector(_centerface_locked(), NudeNetDetector(), AnimalJudge())
        return _detector


def face_finder() -> Detector:
    """What ``--where face`` hides: the shared detector's CenterFace alone, every
    candidate kept (no second look), without building NudeNet for it. On
    benchmarks/face_recall.py's 130 labelled and composited real faces it hides the same
    faces, size for size, as CenterFace and NudeNet with the second look, in about half
    the time (a 720p image: 198 against 377 ms); its extra false alarms (0.200 against
    0.184 a photo) only hide more. A replaced shared detector (the tests' injected
    detections) is used as it is."""
    with _lock:
        if _detector is None:
            return _centerface_locked()
        return _detector.faces if isinstance(_detector, VerifiedDetector) else _detector


_centerface: FaceDetector | None = None


def _centerface_locked() -> FaceDetector:
    """The one CenterFace of the process (the caller holds ``_lock``)."""
    global _centerface
    if _centerface is None:
        from .centerface import CenterFaceDetector

        _centerface = CenterFaceDetector()
    return _centerface
