# The synthetic MPI-INF-3DHP of `capf synth --layout 3dhp` (mmpose layout, DATA_ROOT = its folder)
# with the slim HRNet of configs/detectors; activities come from its official-layout copy.
_base_ = ['./3dhp_hrnet_w32.py']
detector = dict(name='hrnet_slim', config='configs/detectors/hrnet_slim_128x96.py')
dataset = dict(name='synth_3dhp', activities='mpi_inf_3dhp_test_set')
