"""The MPI-INF-3DHP test set's ``annot_data.mat`` (MATLAB v7.3) read from a file that CAPF did not
write: ``hdf5storage`` (a MATLAB-compatible HDF5 writer from PyPI) saves the documented variables in
MATLAB's own dimension order (``annot2`` is 2 x 17 x 1 x N, ``valid_frame`` N x 1), and CAPF's reader
must return each frame's joints where MATLAB's indexing puts them. The other way round, the file
CAPF's synthetic writer makes loads through hdf5storage with the same values."""

from __future__ import annotations

import cv2
import hdf5storage
import numpy as np

from stages.extract.sources.matlab import MATLAB_HEADER_PREFIX
from stages.extract.sources.mpi_inf_3dhp.common import ACTIVITY_NAMES
from stages.extract.sources.mpi_inf_3dhp.official_layout import OfficialLayoutSource, read_test_sequence
from stages.lift.joints import mpi3dhp17_to_h36m17
from stages.synth.matfile import write_mat73

N = 7


def _matlab_variables(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The test set's variables in MATLAB's dimension order (what `size()` shows in MATLAB)."""
    return {
        "valid_frame": np.array([[1], [1], [0], [1], [1], [0], [1]], dtype=np.float64),  # N x 1
        "annot2": rng.uniform(5, 40, (2, 17, 1, N)) * np.array([1.0, 1.5]).reshape(2, 1, 1, 1),  # x, y in 48x64
        "annot3": rng.uniform(-1000, 5000, (3, 17, 1, N)),
        "univ_annot3": rng.uniform(-1000, 5000, (3, 17, 1, N)),
        "activity_annotation": rng.integers(1, 8, (N, 1)).astype(np.float64),
        "bb_crop": rng.uniform(0, 2048, (4, 1, N)),  # in the release, not read
    }


def test_an_annotation_written_by_hdf5storage_reads_frame_by_frame_as_matlab_indexes_it(tmp_path):
    variables = _matlab_variables(np.random.default_rng(0))
    path = tmp_path / "TS1" / "annot_data.mat"
    path.parent.mkdir()
    hdf5storage.savemat(str(path), variables, format="7.3", oned_as="column", store_python_metadata=False,
                        matlab_compatible=True)
    assert path.read_bytes()[:len(MATLAB_HEADER_PREFIX)] == MATLAB_HEADER_PREFIX  # what MATLAB itself writes

    sequence = read_test_sequence(path)
    assert sequence.name == "TS1"
    np.testing.assert_array_equal(sequence.valid, variables["valid_frame"][:, 0] == 1)
    for k in range(N):  # MATLAB: annot2(:, j, 1, k) is joint j's (x, y) in frame k
        np.testing.assert_array_equal(sequence.annot2_px[k], variables["annot2"][:, :, 0, k].T)
        np.testing.assert_array_equal(sequence.annot3_mm[k], variables["annot3"][:, :, 0, k].T)
        np.testing.assert_array_equal(sequence.univ_annot3_mm[k], variables["univ_annot3"][:, :, 0, k].T)
    assert sequence.activity == [ACTIVITY_NAMES[int(a)] for a in variables["activity_annotation"][:, 0]]

    # and through the official layout's source: only valid frames, image k+1 for row k
    images = path.parent / "imageSequence"
    images.mkdir()
    for k in range(N):
        cv2.imwrite(str(images / f"img_{k + 1:06d}.jpg"), np.full((64, 48, 3), 10 * k, np.uint8))
    index = OfficialLayoutSource(tmp_path, "TS1/annot_data.mat", None, "univ_annot3", "mpi_inf_3dhp").frame_index()
    valid_rows = np.flatnonzero(variables["valid_frame"][:, 0])
    assert [name.rsplit("/", 1)[-1] for name in index.image_names] == [f"img_{k + 1:06d}.jpg" for k in valid_rows]
    expected = np.stack([variables["univ_annot3"][:, :, 0, k].T for k in valid_rows])
    np.testing.assert_allclose(index.gt3d_mm, mpi3dhp17_to_h36m17(expected), rtol=1e-6)  # the lifter's joint order


def test_capfs_own_mat_file_loads_through_hdf5storage_with_the_same_values(tmp_path):
    variables = _matlab_variables(np.random.default_rng(1))
    path = tmp_path / "annot_data.mat"
    write_mat73(path, variables)
    loaded = hdf5storage.loadmat(str(path))
    for name, value in variables.items():
        assert loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value)
