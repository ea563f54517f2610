"""Datasets: mosaicgan pairs, pix2pix aligned A|B, synthetic pairs, and the data screen."""
