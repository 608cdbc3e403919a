"""Writing MATLAB v7.3 `.mat` files with h5py, laid out the way MATLAB itself writes them.

A v7.3 MAT-file is an HDF5 file with a 512-byte user block whose first 128 bytes are MATLAB's
text header ("MATLAB 7.3 MAT-file, ..."), one dataset per variable carrying a `MATLAB_class`
attribute, and every array stored column-major: MATLAB's `2 x 17 x 1 x N` becomes the HDF5 dataset
`(N, 1, 17, 2)`. So callers pass arrays in MATLAB's own dimension order and this module stores
their transpose, which is exactly what h5py then shows a reader (stages.extract.sources.matlab).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cache.atomic import replace_atomically

USER_BLOCK_BYTES = 512
_HEADER_TEXT_BYTES = 116


def matlab_header(created: str | None = None) -> bytes:
    """MATLAB's 128-byte MAT-file header: descriptive text, subsystem offset, version 0x0200, 'IM'."""
    created = created or time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))  # fixed: same bytes each run
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {created} HDF5 schema 1.00 .".encode()
    return text.ljust(_HEADER_TEXT_BYTES, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"


def write_mat73(path: Path, variables: dict[str, np.ndarray]) -> None:
    """Write numeric `variables` (MATLAB dimension order, at least 2-D like every MATLAB array) as
    doubles to a v7.3 `.mat` file, atomically (a temporary file renamed into place). No timestamps
    are stored, so equal variables give equal bytes."""
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w", userblock_size=USER_BLOCK_BYTES, libver="earliest") as handle:
            for name, value in variables.items():
                array = np.asarray(value, dtype=np.float64)
                if array.ndim < 2:
                    raise ValueError(f"{name}: MATLAB arrays have at least 2 dimensions, got shape {array.shape}")
                dataset = handle.create_dataset(name, data=np.ascontiguousarray(array.T), track_times=False)
                dataset.attrs["MATLAB_class"] = np.bytes_("double")
        with open(tmp, "r+b") as raw:
            raw.write(matlab_header())

    replace_atomically(Path(path), write)
