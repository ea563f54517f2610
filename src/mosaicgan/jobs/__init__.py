"""The jobs, one module each (mosaic, cam, find, restore, translate, pairs, train, evaluate,
demo), over the one per-file loop in :mod:`mosaicgan.jobs.batch`. Each handles images and
videos of its job."""
