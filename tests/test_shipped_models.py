"""The shipped generators: the default show plays deepsky128, whose latent carries the picture
(issue 14); hubble64 stays shipped and playable."""

from pathlib import Path

import pytest
import torch

from installation.config import load_show
from installation.models.checkpoint import load_generator
from installation.train.metrics_picture import w_share

REPO = Path(__file__).resolve().parents[1]


def test_the_default_show_plays_deepsky128():
    cfg = load_show(REPO / "show_configs" / "default.toml")
    assert cfg.resolve(cfg.model.checkpoint) == (REPO / "checkpoints" / "deepsky128.pt").resolve()


def test_deepsky128_draws_its_picture_from_w_not_from_the_noise():
    torch.manual_seed(0)
    G = load_generator(REPO / "checkpoints" / "deepsky128.pt", "cpu")
    assert G.img_resolution == 128
    # 16 seeds, not the metric's 64 (speed); the shipped model scores 0.90 on 64 seeds.
    assert w_share(G, "cpu", seeds=16) >= 0.8


@pytest.mark.parametrize("name, resolution", [("deepsky128.pt", 128), ("hubble64.pt", 64)])
def test_shipped_generators_load_and_draw_finite_frames(name, resolution):
    G = load_generator(REPO / "checkpoints" / name, "cpu")
    with torch.no_grad():
        image = G(torch.randn(1, G.z_dim), None, truncation_psi=0.8, noise_mode="const")
    assert image.shape == (1, 3, resolution, resolution)
    assert torch.isfinite(image).all() and image.std() > 0.01
