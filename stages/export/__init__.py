"""3D that leaves CAPF: camera-space roots, BVH files, and the lifter as ONNX."""


class ExportInputError(ValueError):
    """Bad input to an export (a camera that does not fit, a checkpoint that cannot be exported); the
    message names the file and what is wrong."""
