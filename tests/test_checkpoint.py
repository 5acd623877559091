"""Checkpoint format: round trip, atomic write, safe loading, the "random:" stand-in."""

from __future__ import annotations

import pickle

import pytest
import torch

from installation.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_discriminator,
    load_generator,
    save_checkpoint,
)
from installation.models.stylegan2 import Discriminator, Generator

CPU = torch.device("cpu")


class Evil:
    """Stands for any class inside a foreign pickle (an NVlabs .pkl carries code like this)."""


def tiny_pair():
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=16))
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        G.synthesis.b16.conv1.noise_strength.fill_(0.3)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=16)
    return G.eval(), D.eval()


def test_round_trip_gives_identical_output(tmp_path):
    G, D = tiny_pair()
    path = tmp_path / "run" / "snap.pt"
    extra = {"kimg": 12.5, "augment_p": torch.tensor(0.1), "note": "hi", "opt": {"step": [1, 2]}}
    save_checkpoint(path, G_ema=G, G=G, D=D, extra=extra)
    assert not (tmp_path / "run" / "snap.pt.tmp").exists()

    data = load_checkpoint(path)
    assert data["format"] == "installation.stylegan2" and data["version"] == 1
    assert data["G_kwargs"] == G.init_kwargs and data["D_kwargs"] == D.init_kwargs
    assert data["extra"]["kimg"] == 12.5 and data["extra"]["opt"] == {"step": [1, 2]}

    G2 = load_generator(path, CPU)
    assert not G2.training and not any(p.requires_grad for p in G2.parameters())
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(G2(z, truncation_psi=0.7), G(z, truncation_psi=0.7), rtol=0, atol=0)
    D2 = load_discriminator(path, CPU)
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(D2(img), D(img), rtol=0, atol=0)


def test_checkpoint_without_discriminator(tmp_path):
    G, _ = tiny_pair()
    path = tmp_path / "g.pt"
    save_checkpoint(path, G_ema=G)
    assert load_checkpoint(path)["D"] is None
    assert load_discriminator(path, CPU) is None


def test_failed_save_keeps_the_previous_file(tmp_path):
    G, _ = tiny_pair()
    path = tmp_path / "snap.pt"
    save_checkpoint(path, G_ema=G, extra={"kimg": 1})

    class Unsaveable:  # torch.save can pickle it, but raise halfway to simulate a crash
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, G_ema=G, extra={"kimg": 2, "bad": Unsaveable()})
    assert load_checkpoint(path)["extra"]["kimg"] == 1


def test_non_checkpoint_files_are_errors_naming_the_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt"):
        load_checkpoint(text)

    pkl = tmp_path / "network-snapshot.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"G_ema": Evil()}, f)
    with pytest.raises(CheckpointError, match="network-snapshot.pkl"):
        load_generator(pkl, CPU)

    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="other.pt.*not an installation checkpoint"):
        load_checkpoint(other)

    with pytest.raises(CheckpointError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_unsafe_file_error_names_the_refused_global_and_never_suggests_weights_only_false(tmp_path):
    import argparse

    path = tmp_path / "args.pt"
    torch.save({"args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "args.pt" in message and "argparse.Namespace" in message
    assert "weights_only` set to `False" not in message and "\n" not in message


def test_random_stand_in_is_deterministic_and_small():
    a = load_generator("random:3:16", CPU)
    b = load_generator("random:3:16", CPU)
    c = load_generator("random:4:16", CPU)
    assert a.img_resolution == 16 and a.z_dim == 256 and a.w_dim == 256 and a.mapping.num_layers == 4
    assert not a.training
    z = torch.randn(1, a.z_dim)
    with torch.no_grad():
        ia, ib, ic = a(z), b(z), c(z)
    assert torch.equal(ia, ib)
    assert not torch.allclose(ia, ic)
    assert a.mapping.w_avg.abs().sum() > 0  # w_avg estimated, so truncation has a centre
    assert load_generator("random:0", CPU).img_resolution == 64
    assert load_discriminator("random:0", CPU) is None


@pytest.mark.parametrize("spec", ["random:", "random:x", "random:1:48", "random:1:2:3"])
def test_bad_random_specs(spec):
    with pytest.raises(CheckpointError, match="random:"):
        load_generator(spec, CPU)
