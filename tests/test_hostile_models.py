"""Hostile model files are refused before anything is allocated or built (issue #15, items 3 and 13).

A model file names its own sizes; none of them may reach a constructor unchecked. Every case here
used to hang, exhaust memory or end in a ZeroDivisionError.
"""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from _nvlabs_standin import GenSpec, nvlabs_generator, snapshot, write_pickle

from installation.models.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from installation.models.stylegan2 import Generator

CPU = torch.device("cpu")


def _tiny_G():
    torch.manual_seed(0)
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                     mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 32, "channel_max": 4})


def _with_kwargs(tmp_path, name, **changes):
    """A real checkpoint whose stored G_kwargs were edited (as an attacker would)."""
    path = tmp_path / name
    save_checkpoint(path, G_ema=_tiny_G())
    data = torch.load(path, weights_only=True)
    for dotted, value in changes.items():
        target = data["G_kwargs"]
        *parents, key = dotted.split("__")
        for p in parents:
            target = target[p]
        target[key] = value
    torch.save(data, path)
    return path


def test_bytearray_bomb_pickle_is_refused_before_allocating(tmp_path):
    # The 32-byte pickle: bytearray(3_221_225_472).
    bomb = tmp_path / "b.pkl"
    bomb.write_bytes(b"\x80\x04cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\xc0\x00\x85R.")
    with pytest.raises(CheckpointError, match="bytearray"):
        load_generator(bomb, CPU)


def test_small_bytearray_call_is_refused_too(tmp_path):
    # Any size the file chooses is refused, not only huge ones (so the rule does not depend on a threshold).
    bomb = tmp_path / "small.pkl"
    bomb.write_bytes(b"\x80\x04cbuiltins\nbytearray\n\x8a\x03\x00\x00\x10\x85R.")
    with pytest.raises(CheckpointError, match="bytearray"):
        load_generator(bomb, CPU)


def test_bytearray_in_a_torch_zip_is_refused(tmp_path):
    path = tmp_path / "bomb.pt"
    buf = io.BytesIO()
    torch.save({"format": "installation.stylegan2"}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    index = next(n for n in entries if n.endswith("data.pkl"))
    entries[index] = b"\x80\x02cbuiltins\nbytearray\nK\x10\x85R."  # bytearray(16)
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.raises(CheckpointError, match="bytearray"):
        load_checkpoint(path)


@pytest.mark.parametrize("key, value, named", [
    ("mapping_kwargs__num_layers", 100_000, "num_layers"),
    ("img_resolution", 16384, "img_resolution"),
    ("img_resolution", 12, "img_resolution"),
    ("z_dim", 0, "z_dim"),
    ("w_dim", 0, "w_dim"),
    ("w_dim", 10**9, "w_dim"),
    ("img_channels", 1000, "img_channels"),
    ("synthesis_kwargs__channel_base", 4, "channel_base"),
    ("synthesis_kwargs__channel_max", 10**7, "channel_max"),
    ("z_dim", 2.5, "z_dim"),
])
def test_checkpoint_with_out_of_bounds_architecture_is_refused(tmp_path, key, value, named):
    path = _with_kwargs(tmp_path, "bad.pt", **{key: value})
    with pytest.raises(CheckpointError, match=f"bad.pt.*{named}.*expected"):
        load_generator(path, CPU)


def test_architecture_too_big_in_total_is_refused(tmp_path):
    # Each field in range, the product absurd: 2048 px with 4096 channels everywhere.
    path = _with_kwargs(tmp_path, "huge.pt", img_resolution=2048,
                        synthesis_kwargs={"channel_base": 1 << 20, "channel_max": 4096})
    with pytest.raises(CheckpointError, match="huge.pt.*parameters"):
        load_generator(path, CPU)


def test_nvlabs_pickle_with_absurd_mapping_depth_is_refused(tmp_path):
    G, _ = nvlabs_generator(GenSpec())
    G.state["_modules"]["mapping"].state["num_layers"] = 100_000
    path = tmp_path / "deep.pkl"
    write_pickle(path, snapshot(G))
    with pytest.raises(CheckpointError, match="deep.pkl.*num_layers.*expected"):
        load_generator(path, CPU)


def test_nvlabs_pickle_with_absurd_resolution_is_refused(tmp_path):
    G, _ = nvlabs_generator(GenSpec())
    G.state["img_resolution"] = 16384
    path = tmp_path / "wide.pkl"
    write_pickle(path, snapshot(G))
    with pytest.raises(CheckpointError, match="wide.pkl.*img_resolution.*expected"):
        load_generator(path, CPU)


def test_numpy_array_sized_by_the_pickle_is_refused(tmp_path):
    path = tmp_path / "np.pkl"
    path.write_bytes(b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85R.")  # ndarray((1 << 30,))
    with pytest.raises(CheckpointError, match="numpy array"):
        load_generator(path, CPU)


# --- corrupted weights (item 13) -------------------------------------------------------------


def _largest_record(path) -> tuple[int, int]:
    """(offset, size) of the largest stored tensor's bytes inside a torch zip."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_corrupted_checkpoint_bytes_are_an_error(tmp_path):
    path = tmp_path / "corrupt.pt"
    save_checkpoint(path, G_ema=_tiny_G())
    assert load_generator(path, CPU) is not None
    offset, size = _largest_record(path)
    raw = bytearray(path.read_bytes())
    n = min(4096, size)
    raw[offset:offset + n] = bytes((b * 7 + 13) % 256 for b in range(n))  # deterministic garbage
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt.pt.*checksum mismatch.*G_ema"):
        load_generator(path, CPU)


def test_non_finite_weights_are_an_error_even_with_a_good_checksum(tmp_path):
    G = _tiny_G()
    with torch.no_grad():
        G.synthesis.b4.conv1.weight[0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    save_checkpoint(path, G_ema=G)
    with pytest.raises(CheckpointError, match=r"nan.pt.*synthesis\.b4\.conv1\.weight.*non-finite"):
        load_generator(path, CPU)


def test_checkpoint_without_checksum_still_loads(tmp_path):
    # Files written before checksums existed (the shipped hubble64.pt is one) are an older version, not corrupt.
    path = tmp_path / "old.pt"
    G = _tiny_G()
    save_checkpoint(path, G_ema=G)
    data = torch.load(path, weights_only=True)
    del data["checksum"]
    torch.save(data, path)
    loaded = load_generator(path, CPU).state_dict()
    for key, value in G.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_non_finite_weights_without_checksum_are_an_error(tmp_path):
    path = tmp_path / "oldnan.pt"
    save_checkpoint(path, G_ema=_tiny_G())
    data = torch.load(path, weights_only=True)
    del data["checksum"]
    data["G_ema"]["mapping.fc0.weight"][0, 0] = float("inf")
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="mapping.fc0.weight.*non-finite"):
        load_generator(path, CPU)
