"""mosaicgan's jobs as Python functions: the command line and the web app call these.

Image-level verbs take arrays and return arrays (``mosaic_image``, ``find_mosaic``,
``restore_image``); file-level jobs take paths, write atomically, never modify inputs,
go on after a bad file and return a :class:`BatchReport` naming each failure. Each job
lives in its own module of :mod:`mosaicgan.jobs`; this is the list of what is public.
"""

from __future__ import annotations

from .jobs.batch import BatchReport
from .jobs.cam import cam_files
from .jobs.catalog import ModelInfo, describe_model, find_models
from .jobs.evaluate import EvalReport, evaluate
from .jobs.find import find_mosaic, find_mosaic_files
from .jobs.mosaic import mosaic_files, mosaic_video, redact
from .jobs.pairs import PairsReport, make_pairs, unpair_aligned
from .jobs.preview import is_video, video_frame
from .jobs.restore import restore_files, restore_image, restore_regions, restore_video
from .jobs.train import screen_dataset, train_cells, train_cyclegan, train_pix2pix
from .jobs.translate import translate_files, translate_video
from .models.export import export_model
from .models.restorer import Restorer, RestoreResult, load_restorer
from .models.sharpness import has_dial
from .models.shipped import default_model, sharp_model
from .models.translator import Translator, load_translator
from .mosaic import mosaic_image
from .options import RegionSpec, VideoOptions
from .regions.choose import find_regions, given_regions, load_classifier
from .sheets import heatmap_overlay

__all__ = [
    "BatchReport", "EvalReport", "ModelInfo", "PairsReport", "RegionSpec", "RestoreResult",
    "Restorer", "Translator", "VideoOptions", "cam_files", "default_model", "describe_model",
    "evaluate", "export_model", "find_models", "find_mosaic", "find_mosaic_files",
    "find_regions", "given_regions", "has_dial", "heatmap_overlay", "is_video",
    "load_classifier",
    "load_restorer", "load_translator", "make_pairs", "mosaic_files", "mosaic_image",
    "mosaic_video", "redact", "restore_files", "restore_image", "restore_regions",
    "restore_video", "screen_dataset", "sharp_model", "train_cells", "train_cyclegan",
    "train_pix2pix",
    "translate_files", "translate_video", "unpair_aligned", "video_frame",
]
