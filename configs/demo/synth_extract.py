# Stage one of the synthetic closed loop: the slim HRNet trained by `capf train-detector` on the
# synthetic Human3.6M, over both splits (one store; stage two splits by subject).
_base_ = ['../extract/h36m_hrnet_slim.py']
detector = dict(name='hrnet_slim_synth')
dataset = dict(type='h36m', name='synth_h36m', annotation=['train_h36m_body3d.npz', 'test_h36m_body3d.npz'])
cache = dict(shard_frames=256)
runtime = dict(batch_size=64, num_workers=1)
