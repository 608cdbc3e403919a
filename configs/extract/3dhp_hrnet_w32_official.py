# MPI-INF-3DHP's official test set as it ships: DATA_ROOT = mpi_inf_3dhp_test_set (holding TS1..TS6).
# TS<n>/annot_data.mat is MATLAB v7.3 (read with h5py); frames TS<n>/imageSequence/img_<frame>.jpg;
# valid frames only; 3D = univ_annot3 (what the test set's own evaluation scores) or annot3;
# intrinsics from the calibration table in stages/extract/sources/mpi_inf_3dhp/common.py.
_base_ = ['./3dhp_hrnet_w32.py']
dataset = dict(
    _delete_=True,
    type='mpi_inf_3dhp',
    name='mpi_inf_3dhp',
    layout='official',
    annotation=['TS1/annot_data.mat', 'TS2/annot_data.mat', 'TS3/annot_data.mat', 'TS4/annot_data.mat',
                'TS5/annot_data.mat', 'TS6/annot_data.mat'],
    cameras=None,  # None: the calibration table; or mmpose's cameras_test.pkl
    joints_3d='univ_annot3',  # or 'annot3' (camera-frame mm as recorded); enters the cache key
)
