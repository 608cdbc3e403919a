# The one source of stage one's defaults: every extract config is completed from these sections
# (stages/extract/settings.py), and a key that is not here is refused with the nearest known key.
# Not a config to run: it names no detector or dataset of its own.
detector = dict(
    name=None,               # readable part of the store's name (default: the mmpose config's stem)
    config=None,             # mmpose top-down config: a path, or mmpose::<path inside the mmpose package>
    checkpoint_sha256=None,  # the checkpoint's sha256: verified before any work when set
    flip_test=False,         # the detector's own flip test for its 2D joints (features: the unflipped pass)
    seed=0,                  # weights seed for --random-init smoke runs only
    # HRNet's levels 1-3: 'stage4_inputs' (CAPF's: the tensors entering stage 4) or 'stage4_branch_outputs'
    # (the outputs of the first stage-4 module's branches: what the authors' released CA-PF checkpoints read;
    # every config `capf import` names uses it). Level 0 is the fused final output either way; enters the key.
    hrnet_levels='stage4_inputs',
)
# `dataset.type` picks a frame source; each type has its own keys.
# crop: the person box the detector crops ('annotation': the dataset's own box, mmpose's center/scale;
# 'authors': CA-PF's H36M toolbox box, pelvis +-1000 mm in x and -900/+1100 mm in y at the pelvis's
# depth, projected with the camera intrinsics, cropped without mmpose's 1.25 padding: a parity option,
# needs 3D ground truth and cameras, and enters the store's key through the boxes).
datasets = dict(
    # train_frame_step=k: every k-th frame of each training video; test_subjects keep every frame
    h36m=dict(type='h36m', name='h36m', annotation='test_h36m_body3d.npz', cameras='cameras.pkl',
              train_frame_step=1, test_subjects=('S9', 'S11'), crop='annotation'),
    images=dict(type='images', name='images', boxes=None, crop='annotation'),
    video=dict(type='video', name='video', video=None, boxes=None, crop='annotation',
               annotation=None),  # ground truth: mmpose H36M npz, one row per frame (stages/synth/clip.py)
    # MPI-INF-3DHP: one entry per layout (the first is the default), each with its own keys.
    mpi_inf_3dhp=dict(
        mmpose=dict(  # mmpose's tools/dataset_converters/preprocess_mpi_inf_3dhp.py output; its 3D is annot3
            type='mpi_inf_3dhp', name='mpi_inf_3dhp', layout='mmpose',
            annotation=['annotations/mpi_inf_3dhp_train.npz', 'annotations/mpi_inf_3dhp_test_valid.npz'],
            cameras=['annotations/cameras_train.pkl', 'annotations/cameras_test.pkl'],
            images='images',      # folder of the npz's imgname files
            activities=None,      # official test-set folder (TS<n>/annot_data.mat): activities of test frames
            crop='annotation'),   # or 'authors' (their 2 m box at the 3D pelvis)
        official=dict(  # the dataset as it ships: the test set (DATA_ROOT = mpi_inf_3dhp_test_set), or with the
                        # training set (DATA_ROOT holding mpi_inf_3dhp/ and mpi_inf_3dhp_test_set/)
            type='mpi_inf_3dhp', name='mpi_inf_3dhp', layout='official',
            annotation=['TS1/annot_data.mat', 'TS2/annot_data.mat', 'TS3/annot_data.mat', 'TS4/annot_data.mat',
                        'TS5/annot_data.mat', 'TS6/annot_data.mat'],
            cameras=None,         # None: the calibration table in code; or mmpose's cameras_test.pkl
            joints_3d='univ_annot3',  # or 'annot3'; enters the cache key
            # training sequences (S<s>/Seq<q>/annot.mat entries of `annotation`, MATLAB v5):
            train_cameras=[0, 1, 2, 4, 5, 6, 7, 8],  # the authors' camera set; intrinsics from camera.calibration
            train_frames='video',  # 'video': imageSequence/video_<c>.avi; 'images': the authors' extracted jpgs
                                   # (<train root>/images/s_<ss>_seq_<qq>_ca_<cc>/..._<frame+1:06d>.jpg)
            train_frame_step=1,    # every k-th frame of each training video
            crop='annotation'),   # or 'authors' (their 2 m box at the 3D pelvis)
    ),
)
# source: 'detector' (its COCO-17 joints), 'external' with file= (relative to DATA_ROOT), or
# 'ground_truth' (the dataset's own 2D labels: the paper's MPI-INF-3DHP setting)
kp2d = dict(source='detector', file=None)
# compression: or 'blosc-zstd' (~0.6x bytes, slower random reads). dtype: or 'int8' (uint8 codes with a
# per-(frame, channel) scale, part of the store's key: 0.51x the bytes of fp16, ~0.25 % error; README "Dataset scale")
cache = dict(shard_frames=256, compression='none', dtype='float16')
runtime = dict(batch_size=32, num_workers=2, device='auto')
