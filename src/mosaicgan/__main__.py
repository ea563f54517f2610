"""python -m mosaicgan: the command line (also under torchrun)."""

from .cli import main

main()
