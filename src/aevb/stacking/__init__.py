"""A sweep's jobs trained in one process, their gradients computed together (hydra/launcher=stacked)."""
