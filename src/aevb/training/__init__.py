"""What training needs beside the LightningModule: the x-axis arithmetic of samples and updates (sample_counts),
per-datapoint terms averaged over whole splits (split_averages), the report of a NaN (divergence), the authors'
Adagrad (optim), the checks made before a run (run_checks) and SLURM's pre-emption signal (slurm)."""
