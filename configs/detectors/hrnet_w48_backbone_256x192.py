# mmpose's COCO HRNet-W48 256x192 without its heatmap head: the frozen backbone inside the authors'
# CA-PF checkpoints (which drop the head). It gives feature maps only; its store's 2D joints come from
# kp2d.source 'external' (the CPN file) or 'ground_truth'. `capf import` writes its weights.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py']
model = dict(head=None)
