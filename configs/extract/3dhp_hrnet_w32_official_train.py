# MPI-INF-3DHP as it ships, training and test sets in one store (the authors' `dataset/` folder):
# DATA_ROOT holds mpi_inf_3dhp/ (S1..S8/Seq1..2/annot.mat, MATLAB v5, camera.calibration, imageSequence/
# video_<c>.avi) and mpi_inf_3dhp_test_set/ (TS1..TS6). One dataset.joints_3d for both splits
# (univ_annot3: what the test set's evaluation scores and the authors train on); their 8 cameras.
_base_ = ['./3dhp_hrnet_w32_official.py']
dataset = dict(
    annotation=[f'mpi_inf_3dhp/S{s}/Seq{q}/annot.mat' for s in range(1, 9) for q in (1, 2)]
    + [f'mpi_inf_3dhp_test_set/TS{n}/annot_data.mat' for n in range(1, 7)],
    train_cameras=[0, 1, 2, 4, 5, 6, 7, 8],
    train_frames='video',  # or 'images': frames the authors' video_to_images.py extracted (mpi_inf_3dhp/images/)
)
