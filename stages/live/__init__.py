"""Live lifting (``capf live``): a camera, stream or video file lifted frame by frame as it arrives.

``sources`` opens what the user names, ``reader`` reads it on its own thread (newest frame wins),
``frame_pipeline`` runs ``capf infer``'s own per-frame functions on each frame (boxes, tracks, crop,
the 2D detector, the lifter; no store), ``windows`` holds a temporal lifter's causal windows,
``records`` is the JSON-lines layout, ``view`` the side-by-side picture, ``latency`` the clocks and
the summary, and ``session`` the loop that ties them together.
"""
