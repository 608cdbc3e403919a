# The bundled 4-frame Human3.6M sample (../shared/data/h36m: S1, S5, S7, S8): a smoke run of
# train + eval on real frames. Every frame is used for both (there is no held-out subject).
_base_ = ['./capf_hrnet32_h36m.py']
data = dict(train_subjects=None, test_subjects=None)
train = dict(batch_size=4, epochs=2, workers=0)
eval = dict(batch_size=4)
