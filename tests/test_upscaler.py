"""The learned x4 upscaler: shape contract, fast vs plain path, the bicubic baseline, training, file errors, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from installation.cli import cli
from installation.models.checkpoint import CheckpointError
from installation.models.upscaler import (FORMAT, Upscaler, UpscalerNet, bicubic_as_conv, load_upscaler,
                                          read_upscaler_file, save_upscaler)
from installation.train.dataset import make_dataset
from installation.train.upscaler import TrainUpscalerOptions, evaluate, load_split, train_upscaler

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread

FAST_TOLERANCE = 1e-5  # fp32: the two paths sum the same products in a different order


def trained_like_net(seed: int = 0, channels: int = 8, layers: int = 2) -> UpscalerNet:
    """A net with every layer random (the real init zeroes the tail, which would hide path differences)."""
    torch.manual_seed(seed)
    net = UpscalerNet(channels=channels, layers=layers)
    with torch.no_grad():
        for p in net.tail.parameters():
            p.normal_(0, 0.05)
    return net


def images(n=2, h=12, w=20, seed=0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [n, 3, h, w] in [-1, 1]


@pytest.mark.parametrize("fast", [True, False])
def test_shape_contract(fast):
    up = Upscaler(trained_like_net(), "cpu", fast=fast)
    y = up(images(n=2, h=12, w=20))
    assert y.shape == (2, 3, 48, 80) and y.dtype == torch.float32 and y.is_contiguous()
    assert y.min() >= -1 and y.max() <= 1
    assert not y.requires_grad
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        up(torch.zeros(3, 12, 20))


def test_fast_path_equals_plain_path():
    net = trained_like_net()
    x = images(n=2, h=13, w=21)  # odd sizes: the borders (replicate padding) matter
    fast_up = Upscaler(net, "cpu", fast=True)
    plain, fast = Upscaler(net, "cpu", fast=False)(x), fast_up(x)
    torch.testing.assert_close(fast, plain, rtol=0, atol=FAST_TOLERANCE)
    torch.testing.assert_close(fast_up(x), fast, rtol=0, atol=0)  # the cached trace, second call
    other = images(n=1, h=7, w=5, seed=1)  # a new shape gets its own trace
    torch.testing.assert_close(fast_up(other), Upscaler(net, "cpu", fast=False)(other), rtol=0, atol=FAST_TOLERANCE)
    assert (plain.abs() < 1).float().mean() > 0.5  # mostly unclamped: the comparison sees real values


def test_bicubic_conv_matches_torch_bicubic():
    w, pad = bicubic_as_conv(4)
    x = images(n=1, h=9, w=11)
    y = F.pixel_shuffle(F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), w, groups=3), 4)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False),
                               rtol=0, atol=1e-6)


def test_zero_last_layer_is_bicubic_exactly():
    net = UpscalerNet(channels=8, layers=2)  # the tail starts at zero
    with torch.no_grad():
        for p in net.body.parameters():
            p.normal_(0, 1)  # whatever the body computes, a zero tail adds nothing
    x = images()
    assert torch.equal(net(x), F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))
    trained_like_tail = trained_like_net()
    assert not torch.equal(trained_like_tail(x), net(x))


# --- training -------------------------------------------------------------------------------------


def make_edges_dataset(tmp_path, n=24, size=32):
    """Two-colour hard-edged stripes (period 16, random phase and direction): edges bicubic blurs and a net
    can learn to sharpen."""
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        on = ((np.arange(size) + rng.integers(0, 16)) % 16) < 8  # [size] bool
        on = np.broadcast_to(on[:, None] if i % 2 else on[None, :], (size, size))
        a, b = rng.integers(0, 128, 3), rng.integers(128, 256, 3)
        Image.fromarray(np.where(on[..., None], a, b).astype(np.uint8)).save(src / f"{i:03d}.png")
    out = tmp_path / "edges"
    make_dataset(str(src), size, out, progress=False)
    return out


def test_training_lowers_the_loss_and_writes_a_loadable_file(tmp_path):
    data = make_edges_dataset(tmp_path)
    out = tmp_path / "up.pt"
    opts = TrainUpscalerOptions(data=str(data), out=str(out), steps=100, batch=8, patch=32, channels=8, layers=1,
                                lr=1e-2, eval_every=1000, save_every=50, progress=False)
    metrics = train_upscaler(opts, log=lambda s: None)
    # The net starts as exact bicubic, so beating bicubic on the training images means the loss went down.
    train_images, held = load_split(data)
    net, stored = read_upscaler_file(out)
    assert evaluate(net, train_images, "cpu")["gain_db"] > 0.2
    assert stored == metrics and metrics["heldout_images"] == len(held) == 2
    up = load_upscaler(out, "cpu")
    assert up.metrics == metrics and up.net.init_kwargs == dict(channels=8, layers=1, scale=4, tail_kernel=1)
    assert up(images(n=1, h=8, w=8)).shape == (1, 3, 32, 32)
    assert not out.with_name(out.name + ".tmp").exists()


# --- bad files: one line naming the file ---------------------------------------------------------------


def _write(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "no such upscaler file"),
    ("garbage", "not an upscaler file"),
    ("other_kind", "not an upscaler file (format 'installation.stylegan2'"),
    ("other_version", "version 99 is not supported"),
    ("nan", "not finite"),
    ("wrong_shapes", "cannot rebuild the upscaler"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, case, message):
    good = tmp_path / "good.pt"
    save_upscaler(good, UpscalerNet(channels=4, layers=1))
    data = torch.load(good, weights_only=True)
    path = tmp_path / f"{case}.pt"
    if case == "garbage":
        path.write_bytes(b"not a torch file at all")
    elif case == "other_kind":
        _write(path, {"format": "installation.stylegan2", "version": 1})
    elif case == "other_version":
        _write(path, data | {"version": 99})
    elif case == "nan":
        data["state"]["tail.bias"][0] = float("nan")
        _write(path, data)
    elif case == "wrong_shapes":
        _write(path, data | {"kwargs": dict(channels=8, layers=1, scale=4, tail_kernel=1)})
    with pytest.raises(CheckpointError) as e:
        load_upscaler(path, "cpu")
    text = str(e.value)
    assert message in text and str(path) in text and "\n" not in text, text
    assert read_upscaler_file(good)[0].init_kwargs["channels"] == 4  # the good one still loads
    assert torch.load(good, weights_only=True)["format"] == FORMAT


# --- CLI --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["nope"], "nope"),
    (["EMPTY"], "dataset.json"),
    (["DATA", "--patch", "18"], "--patch 18"),
    (["DATA", "--patch", "64"], "--patch 64: larger than"),
    (["DATA", "--steps", "0"], "--steps 0"),
    (["DATA", "--holdout", "1.5"], "--holdout 1.5"),
])
def test_cli_errors_are_one_line_and_name_the_problem(tmp_path, args, needle):
    data = make_edges_dataset(tmp_path, n=4)
    (tmp_path / "empty").mkdir()
    args = [{"DATA": str(data), "EMPTY": str(tmp_path / "empty")}.get(a, a) for a in args]
    result = CliRunner().invoke(cli, ["train-upscaler", *args, "--out", str(tmp_path / "o.pt")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error:") and needle in lines[-1], result.output
    assert not (tmp_path / "o.pt").exists()


def test_cli_trains_and_reports_psnr(tmp_path):
    data = make_edges_dataset(tmp_path, n=6)
    out = tmp_path / "o.pt"
    result = CliRunner().invoke(cli, ["train-upscaler", str(data), "--out", str(out), "--steps", "3", "--batch", "2",
                                      "--patch", "16", "--channels", "4", "--layers", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "held-out PSNR" in result.output and "bicubic" in result.output
    assert load_upscaler(out, "cpu").net.init_kwargs["layers"] == 0


def test_comparison_picture_of_an_untrained_net_shows_bicubic_twice(tmp_path):
    from installation.train.upscaler_picture import COLUMNS, comparison_rows, compose, detailed_crops

    held = torch.randint(0, 256, (10, 3, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    crops = detailed_crops(held, 3)
    rows, scores = comparison_rows(Upscaler(UpscalerNet(channels=4, layers=1), "cpu"), crops)
    assert len(rows) == 3 and all(len(r) == 4 and r[0].shape == (16, 16, 3) for r in rows)
    for (bic, net), row in zip(scores, rows):
        assert abs(bic - net) < 1e-3 and np.abs(row[1].astype(int) - row[2]).max() <= 1  # zero tail: bicubic
    sheet = compose(rows, [list(COLUMNS)] * 3, zoom=2)
    assert sheet.size == (4 * (32 + 4), 3 * (32 + 14 + 4))
