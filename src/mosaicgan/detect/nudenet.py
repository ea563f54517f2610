"""NudeNet 3.4 (exposed body parts, and FACE_FEMALE / FACE_MALE), behind a strict interface.

Its ONNX model ships in the ``nudenet`` wheel (offline). NudeNet pads an image to a square
and looks at it at 320 px, so a face of 25 px in a 2000 px photo shrinks to 4 px and is
lost. Images larger than :data:`WHOLE_IMAGE_MAX` are therefore also searched in
overlapping tiles, in a pyramid of tile sizes (``TILE``, ``2 * TILE``, ...): an object is
found at native detail in the small tiles and whole in the larger ones, whatever its size.

NudeNet's own pre-processing is used as it is; its post-processing (a Python loop over
the network's 2100 candidate rows, about 10 ms a view) is :func:`decode`, the same
arithmetic on whole arrays (a test checks it gives NudeNet's detections exactly).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .base import Detection, check_rgb_uint8, shifted, tile_windows
from .runtime import fastest_network

VIEW = 320  # NudeNet's working resolution
MIN_SCORE = 0.2  # NudeNet's candidate threshold...
NMS_SCORE, NMS_IOU = 0.25, 0.45  # ...and its non-maximum suppression
TILE = 480  # smallest tile: faces down to ~25 px are found (NudeNet needs ~12 px at 320)
WHOLE_IMAGE_MAX = 2 * VIEW  # up to this size, the whole image is detail enough


class NudeNetDetector:
    """NudeNet on the whole image and, when it is large, on tiles.

    ``nudenet.NudeDetector.detect`` takes a path or a BGR uint8 array; a float array
    silently returns nothing and a missing file raises AttributeError. Here only an RGB
    uint8 array is accepted, anything else raises TypeError/ValueError.
    """

    def __init__(self, tile: int | None = TILE) -> None:
        if tile is not None and tile < 64:
            raise ValueError(f"tile must be at least 64 px (or None), got {tile}")
        self._net = FastNudeDetector()
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


class FastNudeDetector:
    """``nudenet.NudeDetector`` with :func:`decode` for its post-processing, its network
    on the fastest runtime that gives its scores (:mod:`.runtime`): ``detect`` takes a BGR
    uint8 array and returns NudeNet's dicts (the same ones on ONNX Runtime)."""

    def __init__(self) -> None:
        from importlib import resources

        from nudenet import nudenet

        # NudeNet 3.4's pre-processing and class names (module-private there; the version
        # is pinned below 4, and a test compares the result with NudeDetector.detect).
        self._prepare = nudenet._read_image
        self._labels: list[str] = list(vars(nudenet)["__labels"])
        model = resources.files("nudenet").joinpath("320n.onnx").read_bytes()
        # The default score tolerance: this project has no nude images to measure the
        # recall of nudity on another runtime with (OpenVINO bf16 moves scores by 0.014 on
        # the astronaut, 0.024 on a resized view: rejected).
        self.network, self.runtime = fastest_network(
            "nudenet", model, self._sample, lambda outputs: outputs[0][:, 4:])

    def _sample(self) -> np.ndarray:
        from skimage import data

        return self._prepare(np.ascontiguousarray(data.astronaut()[..., ::-1]), VIEW)[0]

    def detect(self, bgr: np.ndarray) -> list[dict]:
        blob, _, _, x_pad, y_pad, width, height = self._prepare(bgr, VIEW)
        output = self.network.run(blob)[0]
        return [{"class": self._labels[c], "score": s, "box": list(b)} for c, s, b in
                decode(output, x_pad, y_pad, width, height, VIEW, VIEW)]


def decode(output: np.ndarray, x_pad: int, y_pad: int, width: int, height: int,
           model_width: int, model_height: int) -> list[tuple[int, float, tuple[int, ...]]]:
    """(class index, score, x y w h box) per detection in one view's network output
    ``(1, 4 + classes, rows)``: NudeNet 3.4's ``_postprocess``, vectorised, same float32
    arithmetic (candidates from :data:`MIN_SCORE`, boxes scaled to the padded square,
    clipped to the image, then OpenCV's non-maximum suppression)."""
    rows = np.transpose(np.squeeze(output, 0))
    classes = rows[:, 4:]
    best = classes.max(axis=1)
    keep = np.flatnonzero(best >= MIN_SCORE)
    if keep.size == 0:
        return []
    ids = classes[keep].argmax(axis=1)
    scores = best[keep]
    x, y, w, h = rows[keep, :4].T
    x, y = x - w / 2, y - h / 2
    x = x * (width + x_pad) / model_width
    y = y * (height + y_pad) / model_height
    w = w * (width + x_pad) / model_width
    h = h * (height + y_pad) / model_height
    x, y = np.clip(x, 0, width), np.clip(y, 0, height)
    w, h = np.minimum(w, width - x), np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], 1).tolist()
    chosen = cv2.dnn.NMSBoxes(boxes, scores.tolist(), NMS_SCORE, NMS_IOU)
    return [(int(ids[i]), float(scores[i]), tuple(int(v) for v in boxes[i]))
            for i in np.asarray(chosen, int).reshape(-1)]
