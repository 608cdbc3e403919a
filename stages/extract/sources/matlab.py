"""Reading MATLAB v7.3 `.mat` files, which are HDF5 files, with h5py.

MATLAB stores arrays column-major and h5py reads them row-major, so every array comes back with
its axes reversed: a MATLAB `2 x 17 x 1 x N` array (MPI-INF-3DHP's `annot2`) is an h5py dataset
of shape `(N, 1, 17, 2)`, and a `1 x N` row vector is `(N, 1)`. The arrays returned here keep
h5py's order (frames first), which is the order the rest of the code wants; nothing is transposed
back. (Older `.mat` versions 4-7 are not HDF5; `scipy.io.loadmat` reads those, not this module.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.extract.sources.base import SourceError

MATLAB_HEADER_PREFIX = b"MATLAB 7.3 MAT-file"


def read_mat73(path: Path, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named numeric arrays of a v7.3 `.mat` file, in h5py's (reversed) axis order.

    Raises SourceError naming the file when it is missing, not HDF5 (an older `.mat` version, or
    not a `.mat` at all), or lacks one of ``fields``.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: annotation file not found")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise SourceError(f"{path}: not a MATLAB v7.3 (HDF5) .mat file ({error})") from error
    with handle:
        missing = [name for name in fields if name not in handle or not isinstance(handle[name], h5py.Dataset)]
        if missing:
            present = sorted(k for k in handle.keys() if not k.startswith("#"))
            raise SourceError(f"{path}: malformed annotation: missing field '{missing[0]}' (has {present})")
        return {name: np.asarray(handle[name][()]) for name in fields}
