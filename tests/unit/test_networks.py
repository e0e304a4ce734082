import pytest
import torch

from aevb.components.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

SHAPES = {"mnist": (1, 28, 28), "frey_face": (1, 28, 20), "odd": (3, 13, 7)}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("networks", [(MLPEncoder, MLPDecoder), (ConvEncoder, ConvDecoder)], ids=["mlp", "conv"])
@pytest.mark.parametrize("params_per_pixel", [1, 2])
def test_encoder_and_decoder_shapes(shape, networks, params_per_pixel):
    encoder_class, decoder_class = networks
    encoder = encoder_class(data_shape=shape, latent_dim=5)
    decoder = decoder_class(data_shape=shape, latent_dim=5, params_per_pixel=params_per_pixel)
    mean, log_var = encoder(torch.rand(4, *shape))
    assert mean.shape == log_var.shape == (4, 5)
    assert decoder(mean).shape == (4, params_per_pixel * shape[0], *shape[1:])


def test_mlp_is_the_papers_one_hidden_layer_tanh_network():
    encoder = MLPEncoder(data_shape=(1, 28, 28), latent_dim=20, hidden_dim=500)
    layers = [type(m).__name__ for m in encoder.net]
    assert layers == ["Linear", "Tanh", "Linear"]
    assert encoder.net[0].weight.shape == (500, 784) and encoder.net[2].weight.shape == (40, 500)
    deeper = MLPDecoder(data_shape=(1, 28, 28), latent_dim=2, params_per_pixel=1, hidden_dim=8, depth=3, activation="relu")
    assert [type(m).__name__ for m in deeper.net] == ["Linear", "ReLU"] * 3 + ["Linear"]


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation='swish'.*use one of"):
        MLPEncoder(data_shape=(1, 2, 2), latent_dim=2, activation="swish")
