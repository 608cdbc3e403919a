# The demo's store with 8-bit features (uint8 codes + per-(frame, channel) scales): the fp16 vs int8 study.
_base_ = ['./synth_extract.py']
cache = dict(dtype='int8')
