"""The sky dreamer's pieces: a split by source image, the validation report, dreamer files that
cannot be used (another version, NaN weights), the soft clip, and the shipped dreamer itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from installation.dream import dream_image, soft_add, tensor_to_uint8, uint8_to_tensor
from installation.dreamers import load_dreamer, resnet_dreamer, save_dreamer_file
from installation.live import Frame
from installation.models.resnet import ResNet
from installation.train.dreamer import (DreamerTrainError, TrainDreamerOptions, grouped_split, read_groups,
                                        train_dreamer)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "deepsky-resnet.dreamer.pt"


def test_grouped_split_keeps_every_source_on_one_side():
    groups = [f"src{i // 5}" for i in range(60)]  # 12 sources, 5 crops each
    labels = torch.tensor([(i // 5) % 3 for i in range(60)])  # 4 sources per class
    train, val = grouped_split(labels, groups, 0.25, seed=0)
    tg, vg = {groups[i] for i in train.tolist()}, {groups[i] for i in val.tolist()}
    assert not tg & vg and len(tg | vg) == 12
    assert sorted(int(labels[i]) for i in val.tolist()[::5]) == [0, 1, 2]  # one source of each class
    assert torch.equal(grouped_split(labels, groups, 0.25, seed=0)[1], val)  # deterministic
    with pytest.raises(DreamerTrainError, match="class 'b' has 1 source image"):
        grouped_split(torch.tensor([0, 0, 1, 1]), ["a", "b", "c", "c"], 0.5, 0, ["a", "b"])
    with pytest.raises(DreamerTrainError, match="source 'x' has crops in two classes"):
        grouped_split(torch.tensor([0, 1]), ["x", "x"], 0.5, 0)


def _two_class_data(root: Path, sources=4, crops=3, size=16):
    """root/bright, root/dark: crops of `sources` flat-ish source images each, plus groups.json."""
    rng = np.random.default_rng(0)
    groups = {}
    for cls, level in (("bright", 200), ("dark", 40)):
        (root / cls).mkdir(parents=True)
        for s in range(sources):
            for k in range(crops):
                name = f"{cls}/s{s}_{k}.png"
                img = np.clip(level + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / name)
                groups[name] = f"{cls}{s}.png"
    (root / "groups.json").write_text(json.dumps(groups))
    return root


def test_train_dreamer_validates_on_unseen_sources_and_reports_per_class(tmp_path):
    data = _two_class_data(tmp_path / "data")
    lines = []
    out = tmp_path / "d.pt"
    result = train_dreamer(TrainDreamerOptions(data=str(data), out=str(out), depth=18, width=8, epochs=2, batch=8,
                                               res=16, val_split=0.25, device="cpu", progress=False),
                           log=lines.append)
    assert any("split by source (groups.json): 6 sources train, 2 validate" in line for line in lines)
    report = torch.load(out, weights_only=True)["validation"]
    assert report == result["report"]
    src = report["by_source"]
    assert {k: v["n"] for k, v in src["per_class"].items()} == {"bright": 1, "dark": 1}
    assert report["by_crop"]["per_class"]["bright"]["n"] == 3 and src["chance_uniform"] == 0.5
    assert any("\nchance: 1/2 = 0.500" in line for line in lines)


def test_groups_json_that_misses_an_image_is_one_clear_line(tmp_path):
    data = _two_class_data(tmp_path / "data")
    groups = json.loads((data / "groups.json").read_text())
    del groups["dark/s1_2.png"]
    (data / "groups.json").write_text(json.dumps(groups))
    with pytest.raises(DreamerTrainError, match=r"groups.json: names no source for dark/s1_2.png \(1 image"):
        read_groups(data, sorted(groups) + ["dark/s1_2.png"])


def test_empty_class_folder_is_one_clear_line(tmp_path):
    data = _two_class_data(tmp_path / "data")
    (data / "nebula").mkdir()
    with pytest.raises(DreamerTrainError, match=r"nebula: class folder holds no images"):
        train_dreamer(TrainDreamerOptions(data=str(data), out=str(tmp_path / "x.pt"), device="cpu", progress=False))


def _tiny_dreamer_file(path: Path, **patch) -> Path:
    torch.manual_seed(0)
    save_dreamer_file(path, ResNet(18, num_classes=2, width=8), ["a", "b"], 16, 0.5)
    obj = torch.load(path, weights_only=True)
    obj.update(patch)
    torch.save(obj, path)
    return path


def test_dreamer_file_of_another_version_is_one_clear_line(tmp_path):
    path = _tiny_dreamer_file(tmp_path / "future.pt", version=2)
    with pytest.raises(ValueError, match=r"future.pt: dreamer file version 2; this installation reads version 1"):
        load_dreamer(str(path))


def test_dreamer_file_with_nan_weights_is_one_clear_line(tmp_path):
    path = _tiny_dreamer_file(tmp_path / "nan.pt")
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["layer2.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(obj, path)
    with pytest.raises(ValueError, match=r"nan.pt: weights hold NaN or Inf \(first in layer2.0.conv1.weight\)"):
        load_dreamer(str(path))


def test_soft_add_is_identity_for_small_detail_and_never_reaches_the_bounds():
    base = torch.linspace(-0.98, 0.98, 101).view(1, 1, 1, 101)
    small = torch.full_like(base, 1e-3)
    torch.testing.assert_close(soft_add(base, small), base + small, atol=1e-5, rtol=0)  # a shoulder, not a gain
    for push in (0.5, 2.0, 50.0):
        out = tensor_to_uint8(soft_add(base, torch.full_like(base, push)).expand(1, 3, 1, 101))
        assert out.max() <= 254  # nothing new at 255, however hard the push
        out = tensor_to_uint8(soft_add(base, torch.full_like(base, -push)).expand(1, 3, 1, 101))
        assert out.min() >= 1
    # Monotonic: a stronger push is never darker (gradations survive).
    pushes = torch.linspace(0, 1, 50).view(1, 1, 1, 50)  # up to twice the room left (0.49)
    y = soft_add(torch.full_like(pushes, 0.5), pushes)
    assert (y[..., 1:] > y[..., :-1]).all()
    # Pixels already at the bounds stay there.
    edge = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2)
    assert torch.equal(soft_add(edge, torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2)), edge)


def _newly_clipped(before: np.ndarray, after: np.ndarray) -> float:
    """Share of pixel channels at 0 or 255 after the dream that were not before."""
    new = ((after == 0) | (after == 255)) & ~((before == 0) | (before == 255))
    return float(new.mean())


def _piled_at_bounds(before: np.ndarray, after: np.ndarray) -> float:
    """Share of pixel channels the dream drove (by more than 8 levels) to within 2 levels of 0 or
    255: what a shoulder that merely stops one level short would still flatten."""
    b, a = before.astype(int), after.astype(int)
    return float((((a <= 2) & (b - a > 8)) | ((a >= 253) & (a - b > 8))).mean())


@pytest.mark.skipif(not SHIPPED.is_file(), reason="checkpoints/deepsky-resnet.dreamer.pt not shipped in this tree")
def test_shipped_dreamer_dreams_without_clipping_to_flat_colour():
    from skimage import data

    d = load_dreamer(str(SHIPPED))
    assert d.classes and "galaxy" in d.classes
    for photo in (data.coffee(), data.hubble_deep_field()):
        im = np.asarray(Image.fromarray(photo).resize((96, 72), Image.LANCZOS))
        x = uint8_to_tensor(im)
        for layer in ("layer2", "layer3"):
            out = tensor_to_uint8(dream_image(x, d, layer, octaves=2, iterations=6, step=0.05, jitter=8,
                                              progress=False))
            assert np.abs(out.astype(int) - im.astype(int)).mean() > 2  # it dreamed
            assert _newly_clipped(im, out) < 0.01
            assert _piled_at_bounds(im, out) < 0.01


@pytest.mark.skipif(not SHIPPED.is_file(), reason="checkpoints/deepsky-resnet.dreamer.pt not shipped in this tree")
def test_bench_times_the_shipped_dreamer():
    from installation.bench import BenchPlan, bench_dream

    r = bench_dream(BenchPlan(dream_sizes=(32,), dreamers=("deepsky-resnet",), dream_steps=1), None, torch.device("cpu"))
    assert r["dream_ms_step"]["deepsky-resnet"]["32"] > 0
    assert "deepsky-resnet.dreamer.pt" in r["dream_notes"]["deepsky-resnet"]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="checkpoints/deepsky-resnet.dreamer.pt not shipped in this tree")
@pytest.mark.parametrize("show", ["default", "live", "gallery", "audio-reactive"])
def test_every_shipped_show_dreams_with_the_sky_dreamer_at_its_fine_layer(show):
    from installation.config import load_show
    from installation.content import dreamer_for_show

    cfg = load_show(Path(__file__).resolve().parents[1] / "show_configs" / f"{show}.toml")
    assert cfg.dream.enabled and cfg.resolve(cfg.dream.net) == SHIPPED
    live = dreamer_for_show(cfg, "cpu")
    assert live.layer == "layer2"  # the show does not say: the dreamer's default, stride 8
    frame = np.asarray(Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
                       .resize((64, 64), Image.BICUBIC))
    out = frame
    for _ in range(4):
        out = live.step(frame, Frame.from_values({"dream.strength": 1.0}).dream)
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame.astype(int)).mean() > 0.5


def test_a_resnet_dreams_at_stride_8_by_default():
    with pytest.warns(UserWarning, match="random"):
        d = resnet_dreamer(18)
    act = d(torch.zeros(1, 3, 64, 64), [d.default_layer])[d.default_layer]
    assert d.default_layer == "layer2" and act.shape[-2:] == (8, 8)
