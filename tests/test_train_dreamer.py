"""train-dreamer on a tiny synthetic two-class set, and its file as a dreamer (through the CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from installation.cli import cli
from installation.dreamers import ResNetDreamer, list_layers, load_dreamer
from installation.train.dreamer import DreamerTrainError, TrainDreamerOptions, stratified_split, train_dreamer


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


def make_stripes(root, per_class=80, size=16, seed=0):
    """root/horizontal, root/vertical: 16x16 stripes with random period, phase and colours."""
    rng = np.random.default_rng(seed)
    for name in ("horizontal", "vertical"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            period = rng.integers(4, 9)
            phase = rng.integers(0, period)
            line = ((np.arange(size) + phase) % period) < period / 2  # [size] bool
            on = np.broadcast_to(line[:, None] if name == "horizontal" else line[None, :], (size, size))
            a = rng.integers(0, 256, 3)
            b = 255 - a  # the two colours always differ
            img = np.where(on[..., None], a, b) + rng.normal(0, 12, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


def test_train_dreamer_learns_stripes_and_its_file_dreams(tmp_path):
    data = make_stripes(tmp_path / "stripes")
    out = tmp_path / "stripes.dreamer.pt"
    result = CliRunner().invoke(cli, [
        "train-dreamer", str(data), "--depth", "18", "--width", "16", "--res", "32", "--epochs", "8",
        "--batch", "16", "--lr", "3e-3", "--out", str(out), "--device", "cpu", "--seed", "0",
    ])
    assert result.exit_code == 0, result.output
    assert "val acc" in result.output and "*best" in result.output
    saved = torch.load(out, weights_only=True)
    assert saved["format"] == "installation.dreamer" and saved["depth"] == 18 and saved["res"] == 32
    assert saved["classes"] == ["horizontal", "vertical"] and saved["num_classes"] == 2
    assert saved["val_acc"] > 0.9, result.output

    d = load_dreamer(str(out), "cpu")
    assert isinstance(d, ResNetDreamer) and d.classes == ["horizontal", "vertical"]
    assert "layer4" in list_layers(d)
    # The trained file classifies held-out-style images it never saw.
    fresh = make_stripes(tmp_path / "fresh", per_class=8, seed=1)
    correct = 0
    for label, name in enumerate(d.classes):
        for p in sorted((fresh / name).iterdir()):
            im = Image.open(p).convert("RGB").resize((32, 32), Image.BICUBIC)  # as training saw them
            x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
            correct += int(d(x, ["fc"])["fc"].argmax(1).item() == label)
    assert correct >= 14  # of 16
    listed = CliRunner().invoke(cli, ["dream", "--list-layers", str(out)])
    assert listed.exit_code == 0 and "layer3.1" in listed.output and "(default)" in listed.output


def test_split_is_stratified_and_deterministic():
    labels = torch.tensor([0] * 10 + [1] * 5)
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(15))
    assert (labels[va] == 0).sum() == 2 and (labels[va] == 1).sum() == 1
    assert torch.equal(va, stratified_split(labels, 0.2, seed=3)[1])


def test_bad_data_is_a_clear_error(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(DreamerTrainError, match="need at least 2"):
        train_dreamer(TrainDreamerOptions(data=str(tmp_path), out=str(tmp_path / "x.pt"), progress=False))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DreamerTrainError, match="empty: class folder holds no images"):
        train_dreamer(TrainDreamerOptions(data=str(tmp_path), out=str(tmp_path / "x.pt"), progress=False))


def test_train_dreamer_starts_from_local_weights(tmp_path):
    from installation.models.resnet import ResNet

    data = make_stripes(tmp_path / "stripes", per_class=6)
    start = tmp_path / "start.pth"
    torch.manual_seed(1)
    torch.save(ResNet(18, num_classes=5, width=8).state_dict(), start)  # another class count
    lines = []
    opts = TrainDreamerOptions(data=str(data), out=str(tmp_path / "d.pt"), width=8, res=16, epochs=1, batch=8,
                               weights=str(start), device="cpu", progress=False, schedule="step")
    train_dreamer(opts, log=lines.append)
    assert any("fc starts fresh" in line for line in lines)
    with pytest.raises(DreamerTrainError, match="start.pth: holds ResNet-18 \\(width 8\\)"):
        train_dreamer(TrainDreamerOptions(**{**opts.__dict__, "width": 16}), log=lines.append)
