"""Object detectors behind one strict interface: faces (CenterFace) and nudity/faces (NudeNet)."""
