# A video with the official HRNet-W48 COCO model (`capf import pose_hrnet_w48_256x192.pth` writes it as
# detector.pth): its heatmaps give the 2D joints, its maps the features, at the authors' HRNet levels 1-3
# (what their released CA-PF lifter reads). The in-the-wild path: `capf infer` with the imported lifter.
_base_ = ['./video_hrnet_w32.py']
detector = dict(name='hrnet_w48_authors_levels',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
                hrnet_levels='stage4_branch_outputs')
