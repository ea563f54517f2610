"""Is a "face" an animal's? A second look with an ImageNet classifier.

CenterFace and NudeNet's face classes fire on animals' faces: a tiger's, a fox's, horses',
the demo's cat. EfficientNet-Lite0 (ImageNet, shipped offline by a dependency) knows
animals well; it has no class for people, and a human face spreads its probability over
clothes, hats and instruments. A face detection is therefore an animal's when the
animal classes (ImageNet 0-397, the primates 365-384 left out: a human face must never
count as one) hold at least :data:`ANIMAL` of the probability both on the box itself
(grown :data:`TIGHT`) and on its surroundings (grown :data:`CONTEXT`). Both, because a
person next to an animal shows the animal around the face but a face in the box.

Measured on 146 real faces (the 16 labelled and 130 composited faces of
benchmarks/face_recall.py, 10-320 px): the smaller of the two probabilities is at most
0.43 on any of them (a 10 px face; a face pasted into the tiger photo has 0.94 around it
but 0.17 on itself); ``benchmarks/face_recall.py --animals`` prints the figures. The gate
asks the judge on the whole picture at its own resolution (:mod:`mosaicgan.safety`).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..geometry import Box, context_box

ANIMAL = 0.6  # the animal classes' share of the probability, on the box and around it
TIGHT = 1.2  # the box grown by a fifth (the face with its outline)
CONTEXT = 2.0  # ...and grown twice (the head around it)
MIN_SIDE = 12  # a smaller box is mostly interpolation at 224 px: never judged
SIZE = 224  # the classifier's input side
PRIMATES = range(365, 385)  # orangutan ... indri
ANIMAL_CLASSES = np.array([i < 398 and i not in PRIMATES for i in range(1000)])


class AnimalJudge:
    """EfficientNet-Lite0's animal share on a box and around it, the network loaded on
    first use (torch is imported only when a face must be judged)."""

    def __init__(self) -> None:
        self._net = None
        self._lock = threading.Lock()

    def _network(self):
        with self._lock:
            if self._net is None:
                from ..nets.lite0 import load_lite0

                self._net = load_lite0()
            return self._net

    def shares(self, image: np.ndarray, box: Box) -> tuple[float, float]:
        """The animal classes' probability on ``box`` grown :data:`TIGHT` and grown
        :data:`CONTEXT` in the RGB uint8 ``image``."""
        import torch

        height, width = image.shape[:2]
        views = []
        for grow in (TIGHT, CONTEXT):
            x, y, w, h = context_box(box, width, height, grow)
            crop = image[y:y + max(h, 1), x:x + max(w, 1)]
            views.append(cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA
                                    if max(crop.shape[:2]) > SIZE else cv2.INTER_CUBIC))
        batch = torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.inference_mode():
            probability = self._network()(batch).softmax(1).numpy()
        tight, around = probability[:, ANIMAL_CLASSES].sum(1)
        return float(tight), float(around)

    def is_animal(self, image: np.ndarray, box: Box) -> bool:
        """Whether the face-like thing in ``box`` is an animal's (never for a box under
        :data:`MIN_SIDE` px a side)."""
        if min(box[2], box[3]) < MIN_SIDE:
            return False
        return min(self.shares(image, box)) >= ANIMAL
