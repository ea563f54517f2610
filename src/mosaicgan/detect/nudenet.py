"""NudeNet 3.4 (exposed body parts, and FACE_FEMALE / FACE_MALE), behind a strict interface.

Its ONNX model ships in the ``nudenet`` wheel (offline). NudeNet pads an image to a square
and looks at it at 320 px, so a face of 25 px in a 2000 px photo shrinks to 4 px and is
lost. Images larger than :data:`WHOLE_IMAGE_MAX` are therefore also searched in
overlapping tiles, in a pyramid of tile sizes (``TILE``, ``2 * TILE``, ...): an object is
found at native detail in the small tiles and whole in the larger ones, whatever its size.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .base import Detection, check_rgb_uint8, shifted, tile_windows

VIEW = 320  # NudeNet's working resolution
TILE = 480  # smallest tile: faces down to ~25 px are found (NudeNet needs ~12 px at 320)
WHOLE_IMAGE_MAX = 2 * VIEW  # up to this size, the whole image is detail enough


class NudeNetDetector:
    """NudeNet on the whole image and, when it is large, on tiles.

    ``nudenet.NudeDetector.detect`` takes a path or a BGR uint8 array; a float array
    silently returns nothing and a missing file raises AttributeError. Here only an RGB
    uint8 array is accepted, anything else raises TypeError/ValueError.
    """

    def __init__(self, tile: int | None = TILE) -> None:
        from nudenet import NudeDetector

        if tile is not None and tile < 64:
            raise ValueError(f"tile must be at least 64 px (or None), got {tile}")
        self._net = NudeDetector()
        self._lock = threading.Lock()  # one ONNX session, shared
        self.tile = tile

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections of every view (nothing merged), in ``image``'s pixels."""
        check_rgb_uint8(image)
        found = self.detect_view(image)
        height, width = image.shape[:2]
        if self.tile is None or max(height, width) <= WHOLE_IMAGE_MAX:
            return found
        for x0, y0, size in tile_windows(height, width, self.tile):
            found += shifted(self.detect_view(image[y0:y0 + size, x0:x0 + size]), x0, y0)
        return found

    def detect_view(self, image: np.ndarray) -> list[Detection]:
        """One look at the image, scaled so its longer side is :data:`VIEW` px."""
        check_rgb_uint8(image)
        if min(image.shape[:2]) < 2:
            return []
        scale = VIEW / max(image.shape[:2])
        view = image
        if scale != 1:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            view = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                              else cv2.INTER_CUBIC)
            scale = size[0] / image.shape[1]
        bgr = np.ascontiguousarray(view[..., ::-1])
        with self._lock:
            raw = self._net.detect(bgr)
        return shifted([Detection(d["class"], float(d["score"]), tuple(int(v) for v in d["box"]))
                        for d in raw], 0, 0, scale)
