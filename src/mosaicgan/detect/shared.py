"""The one detector the project uses: CenterFace and NudeNet together, built on first use.

The safety gate, ``--where face|nudity`` and the screening of training data all ask
:func:`shared_detector`; nothing public takes another detector. (The tests replace
``_detector`` through a fixture, to inject detections without any nude image.)
"""

from __future__ import annotations

import threading

import numpy as np

from .base import Detection, Detector

_detector: Detector | None = None
_lock = threading.Lock()


class CombinedDetector:
    """The detections of several detectors, concatenated (each finds what it finds)."""

    def __init__(self, detectors: list[Detector]):
        self.detectors = detectors

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [d for detector in self.detectors for d in detector.detect(image)]


def shared_detector() -> Detector:
    """CenterFace (faces at every size) + NudeNet (nudity, and faces), built once."""
    global _detector
    with _lock:
        if _detector is None:
            from .centerface import CenterFaceDetector
            from .nudenet import NudeNetDetector

            _detector = CombinedDetector([CenterFaceDetector(), NudeNetDetector()])
        return _detector
