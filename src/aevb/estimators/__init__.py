"""Estimators: the SGVB lower bound and importance weights; the estimators of log p(x) (log_px: their protocol;
importance sampling, the paper's Appendix D, annealed importance sampling); HMC and density estimation."""
