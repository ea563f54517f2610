"""Finding mosaics: where an image is pixelated, and on what grid.

:func:`find_regions` (:mod:`.combined`) is the default finder: the learned finder
(:mod:`.learned`) says where, the grid model says how.
:func:`find_mosaic` and :func:`find_mosaic_regions` (:mod:`.search`, which describes the
method) run the stages of :mod:`.candidates`, :mod:`.grid`, :mod:`.edge` and
:mod:`.bands`; :class:`MosaicFollower` (:mod:`.follow`) follows a video's mosaics from frame
to frame. :mod:`.pitch` measures a grid to a fraction of a pixel (:class:`CellGrid`), and
:mod:`.cells` makes a restoration agree with the mosaic's cell colours.
"""

from .cells import block_means, cell_grid, match_cell_means
from .combined import Finding, UnrestorableArea, find_regions
from .follow import MosaicFollower, follow_regions
from .pitch import CellGrid, resample, to_integer_grid
from .region import MosaicRegion
from .search import find_mosaic, find_mosaic_regions, regions_mask

__all__ = [
    "CellGrid",
    "Finding",
    "MosaicFollower",
    "MosaicRegion",
    "UnrestorableArea",
    "block_means",
    "cell_grid",
    "find_mosaic",
    "find_mosaic_regions",
    "find_regions",
    "follow_regions",
    "match_cell_means",
    "regions_mask",
    "resample",
    "to_integer_grid",
]
