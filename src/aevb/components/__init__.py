"""The pieces a latent-variable model is built of: distributions, priors p(z), likelihoods p(x|z) and networks."""
