"""Training: one shared loop (loop.py) and a step function per model."""
