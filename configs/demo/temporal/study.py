# What `capf ablate --study temporal` runs with configs/demo/temporal/ (Table 6 on the demo's store).
# 1. Tuning: for each model, one training per lr at T = tune_frames (seed 0) on the training split
#    minus a validation split of whole training videos (data.val_fraction); the lr with the lowest
#    validation MPJPE is that model's recipe. The test split is never looked at here.
# 2. The table: every model x T in `frames`, once per seed, with its model's recipe, evaluated on
#    every frame of the test videos.
# `frames`: 1, 3 and 9 are the windows where the paper reports both models, and what 2 shared CPU
# cores trained at 3 seeds in the time there was (4 epochs, docs/temporal.md); the paper's full set is
# [1, 3, 9, 27, 81]. lr: two values, as 152 steps favour the larger ones.
frames = [1, 3, 9]
tune = dict(frames=3, val_fraction=0.25, lr=[1e-3, 3e-3])
