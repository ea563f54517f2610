"""mosaicgan: put mosaics where they belong, find and restore them, translate images.

The Python API lives in :mod:`mosaicgan.api`; the command line (``mosaicgan --help``) is a
thin layer over it. Heavy modules (torch, the detectors) load on first use.
"""

__version__ = "0.1.0"
