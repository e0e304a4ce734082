"""Estimators: the SGVB lower bound, importance weights, the marginal likelihood, HMC and density estimation."""
