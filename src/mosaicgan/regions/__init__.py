"""Where to act: boxes, masks, random regions (and later CAMs and detectors)."""
