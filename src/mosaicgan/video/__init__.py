"""Video: streaming I/O (PyAV), regions stable over time, and the per-job frame processors."""
