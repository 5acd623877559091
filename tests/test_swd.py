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


def test_metrics_command_prints_swd_w_share_and_colourfulness(tmp_path):
    from click.testing import CliRunner

    from installation.cli import cli
    from installation.models.checkpoint import save_checkpoint
    from installation.models.stylegan2 import Generator
    from installation.train.dataset import make_dataset

    make_dataset(None, 16, tmp_path / "data", crops=8, hubble=True, progress=False)
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    _set_noise_strength(G, 0.5)  # a trained model uses its noise; a fresh one has it off
    save_checkpoint(tmp_path / "g.pt", G_ema=G)
    figures = {}
    for noise in ("random", "const"):
        res = CliRunner().invoke(cli, ["metrics", str(tmp_path / "g.pt"), str(tmp_path / "data"), "--num", "4",
                                       "--json", "--device", "cpu", "--noise", noise])
        assert res.exit_code == 0, res.output
        figures[noise] = out = json.loads(res.output.strip().splitlines()[-1])
        assert out["noise"] == noise
        numbers = {k: v for k, v in out.items() if k != "noise"}
        assert {"swd", "swd_real_real", "swd_untrained", "w_share", "colourfulness", "colourfulness_real"} <= set(numbers)
        assert all(np.isfinite(v) and v >= 0 for v in numbers.values())
    assert figures["random"]["swd"] != figures["const"]["swd"]  # --noise reaches the generated images
    assert figures["random"]["w_share"] == figures["const"]["w_share"]  # w_share always compares both


def test_colourfulness_of_grey_and_of_saturated_pictures():
    from installation.train.metrics_picture import colourfulness

    grey = np.full((8, 8, 3), 90, np.uint8)
    assert colourfulness(grey) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    # rg = 200, yb = 100 everywhere: no spread, 0.3 * |(200, 100)|.
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(200, 100))
    halves = np.zeros((8, 8, 3), np.uint8)
    halves[:, :4, 0] = 200  # half red, half black: the spread counts too
    assert colourfulness(halves) == pytest.approx(np.hypot(100, 50) + 0.3 * np.hypot(100, 50))
    batch = torch.from_numpy(np.stack([grey, red])).permute(0, 3, 1, 2)
    assert colourfulness(batch) == pytest.approx(colourfulness(red) / 2)


def test_w_share_tells_latent_from_noise():
    from installation.models.stylegan2 import Generator
    from installation.train.metrics_picture import w_share

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=32, channel_max=8)).eval()
    _set_noise_strength(G, 0.0)
    assert w_share(G, "cpu", seeds=8) == pytest.approx(1.0)  # no noise: the picture is all w
    _set_noise_strength(G, 1.0)
    some_noise = w_share(G, "cpu", seeds=8)
    _set_noise_strength(G, 50.0)
    loud_noise = w_share(G, "cpu", seeds=8)
    assert loud_noise < some_noise < 0.8  # the louder the noise, the less of the picture w decides


def _set_noise_strength(G, value: float) -> None:
    for name, param in G.synthesis.named_parameters():
        if name.endswith("noise_strength"):
            param.data.fill_(value)
