"""Issue 8, round 2: each new fast path against the path it replaces (no timings here;
speed is measured by `installation bench`).

- ShaderChain.read_rgba (a plain RGBA copy out of GL) against the window's RGB read.
- The recorder fed RGBA frames (channels=4) against the same frames fed as RGB.
- render_scale < 1 grades at the work size then upscales: still the show's output size, and
  close to grading at the output size (the upscale is linear, the grade nearly so).
- estimate_flow's one batched blur against five separate blurs.
- OSC wakes the frame loop: a write through the OSC server's params wakes it and lands in
  the show's params; the woken wait restarts the clock's schedule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from installation.dream import _image_gradients, estimate_flow, gaussian_blur, warp
from installation.record import VideoRecorder, read_video
from installation.render.chain import ShaderChain, default_params
from installation.render.window import HeadlessWindow


def smooth_frame(w: int, h: int, k: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rgb = np.stack([np.sin(6 * x + k), np.cos(5 * y - k), np.sin(4 * (x + y) + 1)], axis=2)
    return np.round((rgb * 0.5 + 0.5) * 255).astype(np.uint8)


@pytest.fixture()
def window():
    try:
        win = HeadlessWindow(48, 32)
    except RuntimeError as e:
        pytest.skip(f"no headless OpenGL: {e}")
    yield win
    win.close()


def test_read_rgba_is_the_window_read_plus_opaque_alpha(window):
    chain = ShaderChain(window.ctx, 48, 32, render_scale=0.5)
    chain.push_content(smooth_frame(20, 12))
    chain.push_content(smooth_frame(20, 12, 1))
    for i in range(3):
        window.present(chain.render(default_params(), i / 10, 0.5))
    rgba = chain.read_rgba()
    assert rgba.shape == (32, 48, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], window.read())  # same pixels, same row order
    assert (rgba[..., 3] == 255).all()
    assert rgba[..., :3].std() > 5  # a real picture, not a blank
    chain.release()


def test_half_scale_grades_small_then_upscales_to_the_output_size(window):
    params = {**default_params(), "grade.exposure": 0.4, "grade.contrast": 1.2, "grade.vignette": 0.4}
    frames = {}
    for scale in (1.0, 0.5):
        chain = ShaderChain(window.ctx, 48, 32, render_scale=scale)
        assert (chain.upscale is not None) == (scale < 1)
        chain.push_content(smooth_frame(48, 32))
        chain.push_content(smooth_frame(48, 32, 1))
        for i in range(3):
            chain.render(params, i / 10, 1.0)
        frames[scale] = chain.read_rgba()[..., :3].astype(int)
        assert frames[scale].shape == (32, 48, 3)
        chain.release()
    diff = np.abs(frames[1.0] - frames[0.5])
    assert diff.mean() < 2.0 and frames[0.5].std() > 5, (diff.mean(), diff.max())


def test_recorder_takes_rgba_frames_like_rgb_ones(tmp_path):
    w, h = 32, 24
    frames = [smooth_frame(w, h, k) for k in range(6)]
    decoded = {}
    for channels in (3, 4):
        path = tmp_path / f"clip{channels}.mp4"
        with VideoRecorder(path, 10, (w, h), block=True, channels=channels) as rec:
            for f in frames:
                if channels == 4:  # as the show writes them: a row-flipped view with alpha
                    rgba = np.concatenate([f[::-1], np.full((h, w, 1), 255, np.uint8)], axis=2)[::-1]
                    assert rec.write(rgba, copy=False)  # as the show does: packed on the writer thread
                else:
                    assert rec.write(f)
        decoded[channels] = read_video(path)[0]
    assert decoded[3].shape == decoded[4].shape == (6, h, w, 3)
    np.testing.assert_array_equal(decoded[3], decoded[4])  # the same input pixels, the same encode
    # and it is the picture, right way up (chroma subsampling of these 32x24 ramps costs ~6; a
    # row flip or a channel mix-up costs far more)
    assert np.abs(decoded[4].astype(int) - np.stack(frames)).mean() < 12.0
    assert np.abs(decoded[4].astype(int) - np.stack(frames)[:, ::-1]).mean() > 30.0


def test_recorder_rejects_other_channel_counts(tmp_path):
    with pytest.raises(ValueError, match="channels"):
        VideoRecorder(tmp_path / "x.mp4", 10, (16, 16), channels=2)


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


def test_osc_writes_wake_the_frame_loop_and_reach_the_params():
    import time
    from pathlib import Path

    from pythonosc.udp_client import SimpleUDPClient

    from installation.config import load_show
    from installation.show import Show, ShowOptions

    show_file = Path(__file__).resolve().parents[1] / "show_configs" / "default.toml"
    cfg = load_show(show_file, ["model.checkpoint='random:3:16'", "show.width=32", "show.height=24",
                                "show.fps=10", "osc.host='127.0.0.1'"])
    with Show(cfg, ShowOptions(headless=True, osc_port=0)) as show:
        assert not show.wake.is_set()
        SimpleUDPClient("127.0.0.1", show.osc_port).send_message("/installation/grade/exposure", -2.0)
        assert show.wake.wait(5.0), "an OSC write did not wake the frame loop"
        assert show.params.get_target("grade.exposure") == -2.0  # it reached the show's params

        # The woken wait returns and restarts the schedule from now (no short frame after it).
        show.clock.tick()
        before = time.perf_counter()
        show.clock.wait(0.5 * show.clock.period)  # no hold: only the wake can end it early
        assert not show.wake.is_set()
        assert show.clock.next_deadline >= before
