"""The training algorithms, as LightningModules: AEVB (the VAE), IWAE, wake-sleep and Monte Carlo EM."""
