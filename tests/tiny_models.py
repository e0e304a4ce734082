"""Models small enough to build in a unit test: 4x4 binary images, 2 latent dimensions, 8 hidden units."""

from aevb.components.likelihoods import Bernoulli
from aevb.components.networks import MLPDecoder, MLPEncoder
from aevb.data.facts import DataFacts

TINY_IMAGES = DataFacts(shape=(1, 4, 4))


def tiny(model_class, with_encoder: bool = True, **options):
    """model_class (VAE, IWAE, WakeSleep, MonteCarloEM) on the tiny networks; options override any argument."""
    networks = {"decoder": lambda **kw: MLPDecoder(hidden_dim=8, **kw)}
    if with_encoder:
        networks["encoder"] = lambda **kw: MLPEncoder(hidden_dim=8, **kw)
    arguments = {"data": TINY_IMAGES, "latent_dim": 2, "likelihood": Bernoulli(), "optimizer": None, **networks}
    return model_class(**{**arguments, **options})
