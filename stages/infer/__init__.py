"""Inference on a user's clip: input media, person boxes and tracks, the lifter over a feature store,
and the outputs a user looks at or loads (HDF5, mmpose-style JSON, side-by-side video, sampling
pictures). Orchestrated by ``pipeline.infer`` (``capf infer``)."""
