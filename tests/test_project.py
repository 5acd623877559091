"""Projection: optimising w (and noise) to reproduce an image lowers the loss; the command writes w and a PNG."""

import numpy as np
import pytest
import torch
from PIL import Image

from installation.models.checkpoint import save_checkpoint
from installation.models.stylegan2 import Discriminator, Generator
from installation.project import noise_regularisation, project


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


def _tiny_nets(seed=0):
    torch.manual_seed(seed)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=128, channel_max=16))
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=16)
    return G.eval(), D.eval()


def test_projection_lowers_its_loss_and_reaches_a_reachable_target():
    G, D = _tiny_nets()
    with torch.no_grad():  # a target the generator can make: some w's image
        w_true = G.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(5)), None)
        target = G.synthesis(w_true, noise_mode="const")
    res = project(G, target, D=D, steps=60, lr=0.1, progress=False)
    assert res["w"].shape == (G.num_ws, 8)
    assert res["final_loss"] < 0.5 * res["losses"][0]
    # G itself is untouched (the projector works on a copy)
    assert not any(b.requires_grad for b in G.buffers())


def test_noise_regularisation_prefers_white_noise():
    white = [torch.randn(16, 16, generator=torch.Generator().manual_seed(0))]
    smooth = [torch.ones(16, 16)]
    assert noise_regularisation(white) < 0.01 * noise_regularisation(smooth)


def test_project_command_writes_w_and_side_by_side_png(tmp_path):
    from click.testing import CliRunner

    from installation.cli import cli

    G, D = _tiny_nets()
    save_checkpoint(tmp_path / "m.pt", G_ema=G, D=D)
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "t.jpg")
    out = tmp_path / "w.npy"
    res = CliRunner().invoke(cli, ["project", str(tmp_path / "t.jpg"), str(tmp_path / "m.pt"), "--out", str(out),
                                   "--steps", "5", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == (G.num_ws, 8)
    assert Image.open(tmp_path / "w.png").size == (32, 16)  # target | reconstruction
    bad = CliRunner().invoke(cli, ["project", str(tmp_path / "m.pt"), str(tmp_path / "m.pt"), "--out", str(out)])
    assert bad.exit_code != 0 and "m.pt" in bad.output
