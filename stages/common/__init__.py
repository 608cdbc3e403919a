"""Facts shared by both stages (joint sets, dataset labels); imports nothing from either stage."""
