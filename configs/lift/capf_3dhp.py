# Stage two on MPI-INF-3DHP: capf_base.py's model and recipe (the authors' released optimiser),
# trained on the training subjects S1-S8 and evaluated on the test sequences TS1-TS6 (their valid
# frames; the store holds no others).
_base_ = ['./capf_base.py']
data = dict(train_subjects=['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8'],
            test_subjects=['TS1', 'TS2', 'TS3', 'TS4', 'TS5', 'TS6'])
