"""The one detector the project uses: CenterFace and NudeNet together, built on first use.

The safety gate, ``--where face|nudity`` and the screening of training data all ask
:func:`shared_detector`; nothing public takes another detector. (The tests replace
``_detector`` through a fixture, to inject detections without any nude image.)
"""

from __future__ import annotations

import threading

import numpy as np

from .base import Detection, Detector
from .verify import FaceLooker, verified

_detector: Detector | None = None
_lock = threading.Lock()


class CombinedDetector:
    """The detections of several detectors, concatenated (each finds what it finds)."""

    def __init__(self, detectors: list[Detector]):
        self.detectors = detectors

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [d for detector in self.detectors for d in detector.detect(image)]


class VerifiedDetector(CombinedDetector):
    """CenterFace and NudeNet together, their weak face detections given a second look
    (:mod:`mosaicgan.detect.verify`): what the gate and ``--where face`` use."""

    def __init__(self, centerface: FaceLooker, nudenet: Detector):
        super().__init__([centerface, nudenet])
        self.looker = centerface

    def detect(self, image: np.ndarray) -> list[Detection]:
        return verified(image, super().detect(image), self.looker)


def shared_detector() -> Detector:
    """CenterFace (faces at every size) + NudeNet (nudity, and faces), weak faces checked
    again (:class:`VerifiedDetector`), built once."""
    global _detector
    with _lock:
        if _detector is None:
            from .centerface import CenterFaceDetector
            from .nudenet import NudeNetDetector

            _detector = VerifiedDetector(CenterFaceDetector(), NudeNetDetector())
        return _detector
