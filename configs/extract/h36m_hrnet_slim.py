# Stage one with the slim HRNet of configs/detectors (synthetic closed loop, fast smoke runs).
_base_ = ['./h36m_hrnet_w32.py']
detector = dict(name='hrnet_slim', config='configs/detectors/hrnet_slim_128x96.py')
