"""Datasets held in memory as one tensor each, served in minibatches without per-sample work."""
