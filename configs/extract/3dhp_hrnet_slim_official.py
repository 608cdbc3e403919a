# The synthetic MPI-INF-3DHP's official-layout test set (DATA_ROOT = <synth>/mpi_inf_3dhp_test_set).
_base_ = ['./3dhp_hrnet_w32_official.py']
detector = dict(name='hrnet_slim', config='configs/detectors/hrnet_slim_128x96.py')
dataset = dict(name='synth_3dhp')
