"""generate.py and `installation generate`: seeds, uint8 conversion, PNG files, grid, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from installation.cli import cli
from installation.generate import generate_images, parse_seeds, save_grid, seed_to_z, to_uint8
from installation.models.checkpoint import load_generator, save_checkpoint
from installation.models.stylegan2 import Generator


def tiny_checkpoint(path):
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=16))
    save_checkpoint(path, G_ema=G.eval())
    return path


def test_seed_to_z_matches_randomstate():
    z = seed_to_z(42, 8)
    assert z.shape == (1, 8)
    np.testing.assert_array_equal(z, np.random.RandomState(42).randn(1, 8))
    assert not np.array_equal(seed_to_z(43, 8), z)


def test_parse_seeds():
    assert parse_seeds("0-3,7,9") == [0, 1, 2, 3, 7, 9]
    assert parse_seeds("5") == [5]
    assert parse_seeds(" 1 , 2-2 ") == [1, 2]
    for bad in ["", "a", "3-1", "1,,2", "-1", "1-x"]:
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_to_uint8_follows_nvlabs_rounding():
    img = torch.tensor([-1.0, 0.0, 1.0, 2.0, -2.0]).reshape(1, 1, 1, 5).repeat(1, 3, 1, 1)
    out = to_uint8(img)
    assert out.shape == (1, 1, 5, 3) and out.dtype == np.uint8
    assert out[0, 0, :, 0].tolist() == [0, 128, 255, 255, 0]  # -1 -> 0.5 truncates to 0


def test_generate_images_are_deterministic_with_const_noise():
    G = load_generator("random:1:16", torch.device("cpu"))
    a = generate_images(G, [0, 1], 0.7, "const", torch.device("cpu"))
    b = generate_images(G, [1], 0.7, "const", torch.device("cpu"))
    assert a[0].shape == (16, 16, 3) and a[0].dtype == np.uint8
    np.testing.assert_array_equal(a[1], b[0])  # a seed's image does not depend on its neighbours
    assert not np.array_equal(a[0], a[1])


def test_save_grid_layout(tmp_path):
    images = [np.full((4, 6, 3), i * 40, dtype=np.uint8) for i in range(5)]
    save_grid(images, tmp_path / "g.png", cols=2)
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (12, 12, 3)  # 3 rows x 2 cols
    assert grid[4, 6, 0] == 120 and grid[8, 0, 0] == 160 and grid[8, 6, 0] == 0


def test_cli_writes_pngs_and_grid(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "g.pt")
    outdir = tmp_path / "out"
    result = CliRunner().invoke(cli, ["generate", str(ckpt), "--seeds", "0-2,7", "--trunc", "0.7",
                                      "--noise", "const", "--outdir", str(outdir),
                                      "--grid", str(tmp_path / "grid.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in outdir.iterdir())
    assert names == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0007.png"]
    first = np.asarray(Image.open(outdir / "seed0000.png"))
    assert first.shape == (16, 16, 3)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (32, 32, 3)
    np.testing.assert_array_equal(grid[:16, :16], first)
    # The same image as the library gives for seed 0.
    G = load_generator(ckpt, torch.device("cpu"))
    np.testing.assert_array_equal(generate_images(G, [0], 0.7, "const", "cpu")[0], first)


def test_cli_errors_are_clear(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", "random:0:16", "--seeds", "3-x", "--outdir", str(tmp_path)])
    assert result.exit_code == 2 and "3-x" in result.output
    missing = tmp_path / "nothing.pt"
    result = runner.invoke(cli, ["generate", str(missing), "--outdir", str(tmp_path)])
    assert result.exit_code == 1 and "nothing.pt" in result.output and "Traceback" not in result.output
    not_ckpt = tmp_path / "notes.txt"
    not_ckpt.write_text("hi")
    result = runner.invoke(cli, ["generate", str(not_ckpt), "--outdir", str(tmp_path)])
    assert result.exit_code == 1 and "notes.txt" in result.output
