# The one source of stage one's defaults: every extract config is completed from these sections
# (stages/extract/settings.py), and a key that is not here is refused with the nearest known key.
# Not a config to run: it names no detector or dataset of its own.
detector = dict(
    name=None,               # readable part of the store's name (default: the mmpose config's stem)
    config=None,             # mmpose top-down config: a path, or mmpose::<path inside the mmpose package>
    checkpoint_sha256=None,  # the checkpoint's sha256: verified before any work when set
    flip_test=False,         # the detector's own flip test for its 2D joints (features: the unflipped pass)
    seed=0,                  # weights seed for --random-init smoke runs only
)
# `dataset.type` picks a frame source; each type has its own keys.
datasets = dict(
    h36m=dict(type='h36m', name='h36m', annotation='test_h36m_body3d.npz', cameras='cameras.pkl'),
    images=dict(type='images', name='images', boxes=None),
    video=dict(type='video', name='video', video=None, boxes=None,
               annotation=None),  # ground truth: mmpose H36M npz, one row per frame (stages/synth/clip.py)
)
kp2d = dict(source='detector', file=None)  # or source='external' with file= (relative to DATA_ROOT)
cache = dict(shard_frames=256, compression='none')  # or 'blosc-zstd' (~0.6x bytes, slower random reads)
runtime = dict(batch_size=32, num_workers=2, device='auto')
