"""A parity fixture's lifter case in CAPF's own input conventions."""

from __future__ import annotations

import numpy as np
import torch

from stages.authors.fixture import lifter_case, pose2d_from_frames
from stages.authors.stand_in_weights import read_manifest
from stages.lift.joints import MPI3DHP_TO_H36M
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"


def test_capf_normalisation_gives_the_authors_2d_input_bit_for_bit():
    with np.load(FIXTURE / "inputs.npz") as inputs:
        np.testing.assert_array_equal(pose2d_from_frames(read_manifest(FIXTURE)), inputs["kp2d_norm"])


def test_3dhp_case_is_the_authors_rows_reordered_to_h36m():
    h36m = lifter_case(FIXTURE, "h36m_hrnet_w32", joint_order="h36m17")
    mpi = lifter_case(FIXTURE, "3dhp_hrnet_w32", joint_order="mpi3dhp17")
    # H36M slot 0 (pelvis) holds the row the 3DHP model read as its root, joint 14
    torch.testing.assert_close(mpi.pose2d[:, 0], h36m.pose2d[:, 14], rtol=0, atol=0)
    torch.testing.assert_close(mpi.pose2d, h36m.pose2d[:, list(MPI3DHP_TO_H36M)], rtol=0, atol=0)
    torch.testing.assert_close(mpi.ref_px, h36m.ref_px[:, list(MPI3DHP_TO_H36M)], rtol=0, atol=0)
    with np.load(FIXTURE / "3dhp_hrnet_w32.npz") as out:
        np.testing.assert_array_equal(mpi.pred.numpy(), out["pred"][:, list(MPI3DHP_TO_H36M)])
    assert h36m.pred_flip_test is not None and mpi.pred_flip_test is None
    assert [tuple(f.shape[1:]) for f in h36m.feats] == [(32, 64, 48), (64, 32, 24), (128, 16, 12), (256, 8, 6)]
