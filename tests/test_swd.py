"""Sliced Wasserstein distance on Laplacian-pyramid patches."""

import json

import numpy as np
import pytest
import torch

from installation.train import metrics_swd as M


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


def _skies(n, res=32, seed=0, blur=False):
    """uint8 [n, 3, res, res]: dark noise with bright dots (a cartoon deep field)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, res, res, generator=g) * 30
    ys = torch.randint(0, res, (n, 6), generator=g)
    xs = torch.randint(0, res, (n, 6), generator=g)
    for i in range(n):
        img[i, :, ys[i], xs[i]] = 240.0
    if blur:
        img = torch.nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False) * 3
    return img.clamp(0, 255).to(torch.uint8)


def test_pyramid_reconstructs_the_image():
    x = torch.rand(2, 3, 32, 32)
    levels = M.laplacian_pyramid(x, 2)
    assert [l.shape[-1] for l in levels] == [32, 16]
    torch.testing.assert_close(levels[0] + M._pyr_up(levels[1]), x, rtol=0, atol=1e-5)


def test_identical_descriptor_sets_have_zero_distance():
    d = M.descriptors(_skies(16))[0]
    assert d.shape == (16 * 128, 3 * 49)
    assert M.sliced_wasserstein(d, d) == 0.0


def _fields(n, seed, smooth):
    """uint8 [n, 3, 32, 32] Gaussian noise, either white or low-passed (a different local structure)."""
    x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    if smooth:
        x = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False) * 2.5
    return (x * 40 + 128).clamp(0, 255).to(torch.uint8)


@pytest.mark.slow  # ~5 s alone, more on a busy machine
def test_swd_about_zero_for_same_distribution_larger_for_different():
    a = _fields(96, seed=1, smooth=True)
    identical = M.swd(a, a.clone())
    same_dist = M.swd(a, _fields(96, seed=2, smooth=True))["avg"]  # other samples: only sampling noise
    different = M.swd(a, _fields(96, seed=3, smooth=False))["avg"]
    assert set(identical["levels"]) == {32, 16}
    assert identical["avg"] == pytest.approx(0.0, abs=1e-6)
    assert different > 20  # x1e3 units
    assert same_dist < 0.7 * different


def test_real_halves_are_disjoint():
    real = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 16, 16)
    a, b = M.real_halves(real, 100)
    assert a.shape[0] == b.shape[0] == 5
    assert not set(a[:, 0, 0, 0].tolist()) & set(b[:, 0, 0, 0].tolist())


def test_metrics_command_prints_three_figures(tmp_path):
    from click.testing import CliRunner

    from installation.cli import cli
    from installation.models.checkpoint import save_checkpoint
    from installation.models.stylegan2 import Generator
    from installation.train.dataset import make_dataset

    make_dataset(None, 16, tmp_path / "data", crops=8, hubble=True, progress=False)
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    save_checkpoint(tmp_path / "g.pt", G_ema=G)
    res = CliRunner().invoke(cli, ["metrics", str(tmp_path / "g.pt"), str(tmp_path / "data"), "--num", "4",
                                   "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert set(out) == {"swd", "swd_real_real", "swd_untrained"}
    assert all(np.isfinite(v) and v >= 0 for v in out.values())
