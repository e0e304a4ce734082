"""Auto-Encoding Variational Bayes."""
