# Stage one on MPI-INF-3DHP (mmpose's preprocessed layout) with mmpose's COCO HRNet-W32 256x192.
# The paper's 3DHP setting (Table 2): ground-truth 2D joints are the lifter's input and reference
# points; the detector supplies only the feature maps. DATA_ROOT = the folder that holds images/ and
# annotations/ (mmpose's tools/dataset_converters/preprocess_mpi_inf_3dhp.py output).
# Weights: td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth (mmpose zoo).
_base_ = ['./h36m_hrnet_w32.py']
dataset = dict(
    _delete_=True,
    type='mpi_inf_3dhp',
    name='mpi_inf_3dhp',
    layout='mmpose',
    annotation=['annotations/mpi_inf_3dhp_train.npz', 'annotations/mpi_inf_3dhp_test_valid.npz'],
    cameras=['annotations/cameras_train.pkl', 'annotations/cameras_test.pkl'],
    images='images',
    activities=None,  # the official test set's folder (holding TS1..TS6/annot_data.mat): labels test frames by activity
)
kp2d = dict(source='ground_truth')  # or 'detector' (COCO-17 -> H36M-17) or dict(source='external', file=...)
