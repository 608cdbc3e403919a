# A video file (DATA_ROOT = its folder); boxes from a JSON file beside it, or the whole frame.
_base_ = ['./h36m_hrnet_w32.py']
dataset = dict(_delete_=True, type='video', name='video', video='football_5frames.mp4', boxes=None)
