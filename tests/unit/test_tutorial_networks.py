"""The two tutorial VAEs as presets: their networks' shapes and parameter counts, counted by hand from the
tutorials' layer lists."""

import pytest
import torch
from hydra.utils import instantiate

from aevb.components.networks import ConvDecoder, MLPDecoder, hidden_widths
from aevb.data.facts import DataFacts
from compose import compose_train

MNIST = DataFacts(shape=(1, 28, 28))


def preset_model(experiment: str, tmp_path):
    cfg = compose_train([f"experiment={experiment}"], tmp_path, tmp_path)
    return instantiate(cfg.model, data=MNIST, optimizer=instantiate(cfg.optimizer)), cfg


def count(module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_the_pytorch_tutorials_mlp_is_784_512_256_2_and_back(tmp_path):
    model, cfg = preset_model("tutorial_mlp_mnist", tmp_path)
    # Linear(784, 512), Linear(512, 256), then the mean and log-variance heads: Linear(256, 2) twice
    assert count(model.encoder) == (784 * 512 + 512) + (512 * 256 + 256) + 2 * (256 * 2 + 2) == 534_276
    # Linear(2, 256), Linear(256, 512), Linear(512, 784) with the sigmoid (Bernoulli logits)
    assert count(model.decoder) == (2 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784) == 534_544
    widths = [layer.out_features for layer in model.decoder.net if isinstance(layer, torch.nn.Linear)]
    assert widths == [256, 512, 784] and all(isinstance(layer, torch.nn.ReLU) for layer in model.decoder.net[1:-1:2])
    mean, log_var = model.encoder(torch.rand(5, 1, 28, 28))
    assert mean.shape == log_var.shape == (5, 2) and model.decoder(mean).shape == (5, 1, 28, 28)
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-3


def test_the_keras_examples_conv_vae_has_its_layers_and_550629_parameters(tmp_path):
    model, cfg = preset_model("keras_conv_mnist", tmp_path)
    convs = [layer for layer in model.encoder.convs if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.out_channels, c.stride) for c in convs] == [(32, (1, 1)), (64, (2, 2)), (64, (1, 1)), (64, (1, 1))]
    by_hand_encoder = (
        (3 * 3 * 1 * 32 + 32)  # Conv2D(32, 3, padding="same")
        + (3 * 3 * 32 * 64 + 64)  # Conv2D(64, 3, strides=2)
        + 2 * (3 * 3 * 64 * 64 + 64)  # Conv2D(64, 3) twice
        + (14 * 14 * 64 * 32 + 32)  # Dense(32) on the flattened 14x14x64
        + 2 * (32 * 2 + 2)  # z_mean, z_log_var
    )
    by_hand_decoder = (2 * 14 * 14 * 64 + 14 * 14 * 64) + (3 * 3 * 64 * 32 + 32) + (3 * 3 * 32 * 1 + 1)
    assert count(model.encoder) == by_hand_encoder == 494_244
    assert count(model.decoder) == by_hand_decoder == 56_385
    assert count(model.encoder) + count(model.decoder) == 550_629  # Keras' model.summary() of the example
    x = torch.rand(3, 1, 28, 28)
    assert model.encoder.convs(x).shape == (3, 14 * 14 * 64)
    mean, log_var = model.encoder(x)
    assert mean.shape == log_var.shape == (3, 2)
    assert model.decoder.dense(mean).shape == (3, 14 * 14 * 64) and model.decoder(mean).shape == (3, 1, 28, 28)
    assert cfg.optimizer._target_ == "torch.optim.RMSprop" and cfg.data.batch_size == 16 and cfg.trainer.max_epochs == 10


def test_one_width_and_depth_still_make_the_papers_networks():
    assert hidden_widths(500, 1, None) == [500] and hidden_widths(7, 3, None) == [7, 7, 7]
    decoder = MLPDecoder((1, 28, 28), latent_dim=3, params_per_pixel=1, hidden_dim=10, depth=2)
    assert [layer.out_features for layer in decoder.net if isinstance(layer, torch.nn.Linear)] == [10, 10, 784]
    with pytest.raises(ValueError, match="widths >= 1"):
        hidden_widths(500, 1, [512, 0])


def test_conv_strides_of_one_keep_the_size_and_bad_strides_are_refused():
    decoder = ConvDecoder((1, 28, 20), latent_dim=2, params_per_pixel=2, channels=[8, 4], strides=[1, 2])
    assert decoder.feature_shape == (8, 14, 10) and decoder(torch.zeros(2, 2)).shape == (2, 2, 28, 20)
    with pytest.raises(ValueError, match="strides"):
        ConvDecoder((1, 28, 28), latent_dim=2, params_per_pixel=1, channels=[8, 4], strides=[2])
