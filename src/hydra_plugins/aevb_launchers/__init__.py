"""aevb's Hydra launchers (Hydra finds launchers in the hydra_plugins namespace only)."""
