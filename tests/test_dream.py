"""DeepDream: the step, octaves, jitter, the brush, motion, and the live dreamer."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from installation.live import Frame
from installation.dream import (
    ChannelObjective,
    _image_gradients,
    L2Objective,
    LiveDreamer,
    brush_mask,
    dream_gradient,
    dream_image,
    dream_step,
    estimate_flow,
    gaussian_blur,
    make_objective,
    objective_value,
    warp,
)
from installation.dreamers import Dreamer, ResNetDreamer
from installation.models.resnet import ResNet


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ResNetDreamer(ResNet(18, num_classes=4, width=8))


def _image(h=32, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 1.6 - 0.8  # [1, 3, H, W] in [-1, 1]


class PointwiseDreamer(Dreamer):
    """A 1x1 conv: every activation depends on one pixel, so gradients have no edge effects."""

    name = "pointwise"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self._freeze()

    def layer_names(self):
        return ["conv"]

    @property
    def default_layer(self):
        return "conv"

    def forward(self, img, layers):
        return {"conv": self.conv(img)}


# --- the step ------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", [L2Objective(), ChannelObjective(3)])
def test_a_dream_step_raises_the_objective(tiny, objective):
    x = _image()
    before = objective_value(tiny, x, "layer2", objective)
    after_x = dream_step(x, tiny, "layer2", objective, step=0.01)
    after = objective_value(tiny, after_x, "layer2", objective)
    assert after > before
    # Normalised: the mean absolute change is the step (nothing clamped at these values).
    assert abs(float((after_x - x).abs().mean()) - 0.01) < 1e-4


def test_guide_objective_pulls_toward_the_guide(tiny, tmp_path):
    from PIL import Image

    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[::4] = 255
    Image.fromarray(stripes).save(tmp_path / "guide.png")
    objective = make_objective(f"guide:{tmp_path / 'guide.png'}", tiny, "layer2")
    x = _image()
    before = objective_value(tiny, x, "layer2", objective)
    after = objective_value(tiny, dream_step(x, tiny, "layer2", objective, step=0.01), "layer2", objective)
    assert after > before
    with pytest.raises(ValueError, match="guide:IMAGE"):
        make_objective("sharpen", tiny, "layer2")


def test_octaves_give_back_the_input_size_and_range(tiny):
    x = _image(37, 50)
    out = dream_image(x, tiny, "layer2", octaves=3, octave_scale=1.5, iterations=2, step=0.05, jitter=4,
                      smooth_sigma=0.5, progress=False)
    assert out.shape == x.shape
    assert float(out.min()) >= -1 and float(out.max()) <= 1
    assert float((out - x).abs().mean()) > 0.01  # it did dream


def test_jitter_is_undone(tiny):
    x = _image(33, 41)
    # Zero step: whatever the rolls and octave resizes, the image comes back bit for bit.
    out = dream_image(x, tiny, "layer2", octaves=3, iterations=3, step=0.0, jitter=8, progress=False)
    assert torch.equal(out, x)
    # With a network that looks at single pixels, the rolled-back gradient is the unrolled one.
    net = PointwiseDreamer()
    g0 = dream_gradient(x, net, "conv", L2Objective(), jitter=0)
    for seed in range(3):
        gj = dream_gradient(x, net, "conv", L2Objective(), jitter=10, rng=random.Random(seed))
        torch.testing.assert_close(gj, g0, rtol=1e-5, atol=1e-8)


def test_gradient_smoothing_blurs_but_keeps_the_mean():
    g = torch.randn(1, 3, 24, 24)
    s = gaussian_blur(g, 1.5)
    tv = lambda t: float((t[..., 1:, :] - t[..., :-1, :]).abs().mean())  # noqa: E731
    assert tv(s) < 0.5 * tv(g)
    torch.testing.assert_close(gaussian_blur(torch.ones(1, 3, 9, 9), 2.0), torch.ones(1, 3, 9, 9))


# --- the brush -----------------------------------------------------------------------------


def test_brush_mask_zero_outside_radius_one_at_centre():
    h, w = 40, 60
    m = brush_mask(h, w, x=0.25, y=0.75, radius=0.3, softness=0.5)
    assert m.shape == (h, w)
    rows = torch.arange(h)[:, None] + 0.5
    cols = torch.arange(w)[None, :] + 0.5
    d = torch.hypot((rows - 0.25 * h) / h, (cols - 0.25 * w) / h)  # y=0.75 is a quarter from the top
    assert float(m[d >= 0.3].abs().max()) == 0.0
    assert float(m[d < 0.15].min()) == 1.0  # inside radius * (1 - softness)
    assert float(m[10, 15]) == 1.0  # the centre pixel
    hard = brush_mask(h, w, 0.5, 0.5, 0.2, 0.0)
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(brush_mask(h, w, 0.0, 0.0, 2.0, 0.2), torch.ones(h, w))  # 2 covers everything
    assert float(brush_mask(h, w, 0.5, 0.5, 0.0, 0.2).max()) == 0.0


# --- motion --------------------------------------------------------------------------------


def test_estimate_flow_finds_a_shift():
    torch.manual_seed(0)
    prev = gaussian_blur(torch.rand(1, 1, 48, 64), 2.0)
    cur = torch.roll(prev, shifts=(-1, 2), dims=(2, 3))  # content moved 2 right, 1 up
    flow = estimate_flow(prev, cur)
    inner = flow[0, :, 8:-8, 8:-8]
    assert abs(float(inner[0].median()) - 2.0) < 0.3
    assert abs(float(inner[1].median()) + 1.0) < 0.3
    # warp moves content along the flow: warping prev by the true flow gives cur
    true = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 48, 64)
    torch.testing.assert_close(warp(prev, true)[..., 4:-4, 4:-4], cur[..., 4:-4, 4:-4])


# --- live ----------------------------------------------------------------------------------


def _frames(n, h=24, w=32):
    """A slowly panning smooth pattern: consecutive frames differ, like a latent walk."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(n):
        r = np.sin(0.3 * xx + 0.2 * t) * np.cos(0.25 * yy - 0.1 * t)
        g = np.sin(0.2 * (xx + yy) + 0.05 * t)
        b = np.cos(0.15 * xx - 0.3 * yy + 0.07 * t)
        yield ((np.stack([r, g, b], -1) * 0.4 + 0.5) * 255).astype(np.uint8)


def test_live_dream_changes_the_frame_and_strength_zero_gives_it_back(tiny):
    live = LiveDreamer(tiny, "layer2", resolution=16, octaves=2, device="cpu")
    frame = next(_frames(1))
    out = live.step(frame, Frame.from_values({"dream.strength": 1.0, "dream.step": 0.1}).dream)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() > 0.5
    live.reset()
    for _ in range(3):
        same = live.step(frame, Frame.from_values({"dream.strength": 0.0, "dream.step": 0.1}).dream)
        assert np.array_equal(same, frame)


def test_live_brush_keeps_the_outside_untouched(tiny):
    live = LiveDreamer(tiny, "layer2", resolution=16, octaves=1, device="cpu")
    frame = next(_frames(1, 24, 24))
    p = {"dream.strength": 1.0, "dream.step": 0.2, "dream.focus_x": 0.25, "dream.focus_y": 0.75,
         "dream.focus_radius": 0.3, "dream.focus_softness": 0.3}
    out = live.step(frame, Frame.from_values(p).dream)
    outside = brush_mask(24, 24, 0.25, 0.75, 0.3, 0.3).numpy() == 0
    assert np.array_equal(out[outside], frame[outside])
    assert not np.array_equal(out[~outside], frame[~outside])


def test_live_carried_detail_stays_bounded_over_200_frames(tiny):
    live = LiveDreamer(tiny, "layer2", resolution=12, octaves=3, device="cpu", max_detail=0.5)
    p = {"dream.strength": 0.8, "dream.step": 0.3, "dream.decay": 1.0}  # no decay: the worst case
    peak = 0.0
    for i, frame in enumerate(_frames(200, 18, 24)):
        out = live.step(frame, Frame.from_values(p).dream)
        assert out.shape == frame.shape
        peak = max(peak, float(live.detail.abs().max()))
    assert torch.isfinite(live.detail).all()
    assert 0.1 < peak <= 0.5 + 1e-6  # it grew, and the clamp held
    assert live.frame_index == 200


def test_live_external_flow_moves_the_detail(tiny):
    live = LiveDreamer(tiny, "layer2", resolution=16, octaves=1, device="cpu", estimate_motion=False)
    frames = list(_frames(2, 16, 16))
    live.step(frames[0], Frame.from_values({"dream.strength": 1.0, "dream.step": 0.2}).dream)
    carried = live.detail.clone()
    flow = np.zeros((16, 16, 2), np.float32)
    flow[..., 0] = 3.0  # everything moved 3 px right
    grey = np.full_like(frames[0], 128)  # base ~0: the range clamp cannot touch the moved detail
    live.step(grey, Frame.from_values({"dream.strength": 0.5, "dream.step": 0.0, "dream.decay": 1.0}).dream, flow=flow)
    torch.testing.assert_close(live.detail[..., 3:], carried[..., :-3], rtol=1e-4, atol=1e-5)


def test_live_rejects_bad_frames_and_layers(tiny):
    live = LiveDreamer(tiny, "layer2", resolution=16, device="cpu")
    with pytest.raises(ValueError, match="uint8 frame"):
        live.step(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(KeyError, match="layer7"):
        live.set_layer("layer7")
    live.set_layer("layer1.0")
    assert live.layer == "layer1.0"


# --- still mode through the CLI -------------------------------------------------------------


def test_cli_dream_writes_an_image_of_the_input_size(tmp_path, tiny):
    from click.testing import CliRunner
    from PIL import Image

    from installation.cli import cli
    from installation.dreamers import save_dreamer_file

    net_file = tmp_path / "tiny.dreamer.pt"
    save_dreamer_file(net_file, tiny.net, ["a", "b", "c", "d"], res=32, val_acc=0.5)
    src = tmp_path / "in.png"
    Image.fromarray(next(_frames(1, 30, 44))).save(src)
    out = tmp_path / "out.png"
    args = ["dream", str(src), "--net", str(net_file), "--layer", "layer2.1", "--octaves", "2", "--iterations", "2",
            "--step", "0.05", "--objective", "channel:3", "--device", "cpu", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    dreamed = np.asarray(Image.open(out))
    assert dreamed.shape == (30, 44, 3)
    assert np.abs(dreamed.astype(int) - np.asarray(Image.open(src))).mean() > 1
    bad = CliRunner().invoke(cli, args[:4] + ["--layer", "layer9", "--out", str(out)])
    assert bad.exit_code != 0 and "no layer 'layer9'" in bad.output
    with pytest.warns(UserWarning, match="random"):
        listed = CliRunner().invoke(cli, ["dream", "--list-layers", "resnet18"])
    assert listed.exit_code == 0 and listed.output.split()[:3] == ["layer1", "layer1.0", "layer1.1"]


def five_blur_flow(prev, cur, levels=3, iterations=2, window_sigma=1.5):
    """estimate_flow as it was: five separate blurs per iteration (the reference)."""
    h, w = cur.shape[-2:]
    pyramid = [(prev, cur)]
    while len(pyramid) < levels and min(pyramid[-1][1].shape[-2:]) >= 16:
        a, b = pyramid[-1]
        pyramid.append((F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)))
    flow = torch.zeros(1, 2, *pyramid[-1][1].shape[-2:])
    for a, b in reversed(pyramid):
        if flow.shape[-2:] != b.shape[-2:]:
            sy, sx = b.shape[-2] / flow.shape[-2], b.shape[-1] / flow.shape[-1]
            flow = F.interpolate(flow, size=b.shape[-2:], mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([sx, sy]).view(1, 2, 1, 1)
        for _ in range(iterations):
            moved = warp(a, flow)
            gx, gy = _image_gradients(0.5 * (moved + b))
            r = moved - b
            sxx, syy, sxy = (gaussian_blur(v, window_sigma) for v in (gx * gx, gy * gy, gx * gy))
            sxr, syr = gaussian_blur(gx * r, window_sigma), gaussian_blur(gy * r, window_sigma)
            eps = 1e-4 + 1e-3 * (sxx + syy).mean()
            sxx, syy = sxx + eps, syy + eps
            det = sxx * syy - sxy * sxy
            dx = (syy * sxr - sxy * syr) / det
            dy = (sxx * syr - sxy * sxr) / det
            flow = flow + torch.cat([dx, dy], dim=1).clamp(-2.0, 2.0)
    return flow.clamp(-0.25 * max(h, w), 0.25 * max(h, w))


def test_batched_blur_flow_matches_five_blurs():
    g = torch.Generator().manual_seed(0)
    a = F.avg_pool2d(torch.rand(1, 1, 48, 40, generator=g), 3, 1, 1)
    b = torch.roll(a, (1, 2), (2, 3))
    with torch.no_grad():
        got, ref = estimate_flow(a, b), five_blur_flow(a, b)
    assert ref.abs().max() > 0.5  # it found the motion
    torch.testing.assert_close(got, ref, atol=1e-3, rtol=1e-3)
