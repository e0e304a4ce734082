"""The generative model p(x|z)p(z), the recognition model q(z|x) and the bound that joins them."""
