"""`installation convert`: NVlabs .pkl / rosinality .pt -> our format, same pixels; conditional folding."""

from __future__ import annotations

import torch
from _nvlabs_standin import DiscSpec, GenSpec, nvlabs_discriminator, nvlabs_generator, snapshot, write_pickle
from click.testing import CliRunner

from installation.cli import cli
from installation.models.checkpoint import (
    convert_checkpoint,
    load_checkpoint,
    load_discriminator,
    load_generator,
    save_checkpoint,
)
from installation.models.formats import foreign_format, unconditional_discriminator, unconditional_generator
from installation.models.stylegan2 import Discriminator, Generator

from conftest import seeded

CPU = torch.device("cpu")


def nvlabs_pkl(tmp_path, spec=None, name="snap.pkl"):
    G, _ = nvlabs_generator(spec or GenSpec(), seed=0, src="# src\n")
    D, _ = nvlabs_discriminator(DiscSpec(), seed=1, src="# src\n")
    path = tmp_path / name
    write_pickle(path, snapshot(G, D))
    return path


def test_pkl_round_trip_gives_identical_pixels(tmp_path):
    src = nvlabs_pkl(tmp_path)
    dst = tmp_path / "out" / "model.pt"
    result = CliRunner().invoke(cli, ["convert", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert "nvlabs 16x16 generator + discriminator" in result.output
    assert foreign_format(dst) is None  # ours now
    data = load_checkpoint(dst)
    assert data["extra"]["source_format"] == "nvlabs" and data["extra"]["converted_from"] == "snap.pkl"

    z = seeded(2, 8)
    img = seeded(2, 3, 16, 16, seed=3)
    with torch.no_grad():
        G_pkl, G_ours = load_generator(src, CPU), load_generator(dst, CPU)
        torch.testing.assert_close(G_ours(z), G_pkl(z), rtol=0, atol=0)
        torch.testing.assert_close(G_ours(z, truncation_psi=0.7), G_pkl(z, truncation_psi=0.7), rtol=0, atol=0)
        D_pkl, D_ours = load_discriminator(src, CPU), load_discriminator(dst, CPU)
        torch.testing.assert_close(D_ours(img), D_pkl(img), rtol=0, atol=0)


def test_conditional_pkl_converts_to_the_chosen_class(tmp_path):
    src = nvlabs_pkl(tmp_path, GenSpec(c_dim=4))
    dst = tmp_path / "class2.pt"
    result = CliRunner().invoke(cli, ["convert", str(src), str(dst), "--class", "2", "--no-discriminator"])
    assert result.exit_code == 0, result.output
    assert "playing class 2" in result.output and "discriminator" not in result.output.split("\n")[0]
    z = seeded(2, 8)
    with torch.no_grad():
        from installation.models.nvlabs_pickle import load_nvlabs

        expected = load_nvlabs(src, class_index=2)[0](z)
        torch.testing.assert_close(load_generator(dst, CPU)(z), expected, rtol=0, atol=0)
    assert load_discriminator(dst, CPU) is None


def test_rosinality_round_trip(tmp_path):
    from test_rosinality import ros_discriminator_state, ros_generator_state

    src = tmp_path / "ffhq-256.pt"
    torch.save({"g_ema": ros_generator_state(), "d": ros_discriminator_state(), "latent_avg": torch.zeros(8)}, src)
    dst = tmp_path / "ours.pt"
    convert_checkpoint(src, dst)
    z = seeded(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_generator(dst, CPU)(z), load_generator(src, CPU)(z), rtol=0, atol=0)


def test_convert_refuses_what_it_cannot_convert(tmp_path):
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    ours = tmp_path / "ours.pt"
    save_checkpoint(ours, G_ema=G)
    result = CliRunner().invoke(cli, ["convert", str(ours), str(tmp_path / "x.pt")])
    assert result.exit_code != 0 and "already an installation checkpoint" in result.output
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = CliRunner().invoke(cli, ["convert", str(text), str(tmp_path / "y.pt")])
    assert result.exit_code != 0 and "notes.txt" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists()


def test_folding_a_class_into_the_generator_keeps_the_pixels():
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, img_channels=3,
                  mapping_kwargs=dict(num_layers=2, embed_features=6),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8)).eval()
    with torch.no_grad():
        G.mapping.embed.bias.normal_()
        G.mapping.fc0.bias.normal_()
        z = torch.randn(4, 8)
        for cls in range(3):
            c = torch.nn.functional.one_hot(torch.tensor([cls] * 4), 3).float()
            folded = unconditional_generator(G, cls)
            assert folded.c_dim == 0
            assert (folded(z) - G(z, c)).abs().max().item() < 1e-5
        assert (unconditional_generator(G, 0)(z) - unconditional_generator(G, 1)(z)).abs().max().item() > 1e-3


def test_folding_a_class_into_the_discriminator_keeps_the_logits():
    torch.manual_seed(0)
    D = Discriminator(c_dim=3, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                      mapping_kwargs=dict(num_layers=1)).eval()
    with torch.no_grad():
        D.b4.out.bias.normal_()
        img = torch.randn(4, 3, 8, 8)
        for cls in range(3):
            c = torch.nn.functional.one_hot(torch.tensor([cls] * 4), 3).float()
            folded = unconditional_discriminator(D, cls)
            assert folded.c_dim == 0
            assert (folded(img) - D(img, c)).abs().max().item() < 1e-5
