"""MPI-INF-3DHP's joint sets, labels and scoring groups: facts of the dataset that both stages use.

Stage one reads them to select and reorder the labels it stores; stage two to score predictions.
They live here, below both stages, so neither has to import the other.

Joint orders:

* the 28 mocap joints of the training set's ``annot.mat`` (its README / ``mpii_get_joints('all')``);
* the 17 "relevant" joints (``mpii_get_joints('relevant')``): the test set's order, the order of
  the authors' (ContextPose_mpi) labels and predictions, root = pelvis at index 14:
  0 head top, 1 neck, 2 r-shoulder, 3 r-elbow, 4 r-wrist, 5 l-shoulder, 6 l-elbow, 7 l-wrist,
  8 r-hip, 9 r-knee, 10 r-ankle, 11 l-hip, 12 l-knee, 13 l-ankle, 14 pelvis, 15 spine, 16 head;
* Human3.6M-17 (VideoPose3D), the order CAPF's stores and lifter use (``MPI3DHP_TO_H36M``).
"""

from __future__ import annotations

MPI3DHP_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
MPI3DHP_ROOT_JOINT = 14  # pelvis, in the 17-joint order

# The 17 relevant joints among the 28 of annot.mat (0-based rows of its 28 x 3 / 28 x 2 blocks):
# head top 7, neck 5, right arm 14-16, left arm 9-11, right leg 23-25, left leg 18-20, pelvis 4,
# spine 3, head 6 (the dataset's 'relevant' set; the authors' data_to_npz_3dhp.py takes the same).
MPI3DHP_28_TO_17: tuple[int, ...] = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)
MPI3DHP_NUM_MOCAP_JOINTS = 28

# The 3DHP joint in each Human3.6M-17 slot: h36m index -> 3DHP index. Pelvis = pelvis (14), spine =
# spine (15), thorax = 3DHP neck (1), neck/nose = 3DHP head (16), head = 3DHP head top (0); limbs
# by name. A bijection: nothing is averaged or dropped.
MPI3DHP_TO_H36M: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
H36M_TO_MPI3DHP: tuple[int, ...] = tuple(MPI3DHP_TO_H36M.index(k) for k in range(17))

# The test set's PCK/AUC joint groups (test_util/mpii_get_pck_auc_joint_groups.m as the authors'
# evaluation ships it): 14 joints in 8 groups. The pelvis (0 error by construction once the
# prediction is root-relative), the spine and the head (nose) are not scored. 3DHP indices.
MPI3DHP_PCK_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("head_top", (0,)), ("neck", (1,)), ("shoulders", (2, 5)), ("elbows", (3, 6)),
    ("wrists", (4, 7)), ("hips", (8, 11)), ("knees", (9, 12)), ("ankles", (10, 13)),
)
# The same groups in the Human3.6M-17 slots a CAPF store holds.
MPI3DHP_PCK_GROUPS_H36M: tuple[tuple[str, tuple[int, ...]], ...] = tuple(
    (name, tuple(H36M_TO_MPI3DHP[j] for j in joints)) for name, joints in MPI3DHP_PCK_GROUPS)

PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM: tuple[float, ...] = tuple(5.0 * i for i in range(31))  # 0, 5, ..., 150

# Test labels: scene groups in table order, and the 7 activity codes named as in the evaluation code
# (test_util/mpii_get_activity_name.m).
MPI3DHP_SCENE_GROUPS: tuple[str, ...] = ("green screen", "no green screen", "outdoor")
MPI3DHP_ACTIVITIES: dict[int, str] = {
    1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
    5: "On the floor", 6: "Sports", 7: "Miscellaneous",
}

# The training set's cameras the authors train on (their data_to_npz_3dhp.py / video_to_images.py
# `cam_set`): 0-2 and 4-8 of the 14; 3 and 9-13 are left out.
MPI3DHP_AUTHORS_TRAIN_CAMERAS: tuple[int, ...] = (0, 1, 2, 4, 5, 6, 7, 8)

# Which 3D array a 3DHP store's gt3d holds: `univ_annot3` (the universal skeleton, the arrays the
# test set's evaluation scores) or `annot3` (each subject's own bone lengths).
JOINTS_3D_CHOICES: tuple[str, ...] = ("univ_annot3", "annot3")
