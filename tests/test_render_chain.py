"""The composed chain: content handling, parameters, time phases, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from installation.render.chain import ShaderChain, default_params
from installation.render.window import read_image

from conftest import NEUTRAL, smooth_frame


@pytest.fixture
def chain(ctx):
    chain = ShaderChain(ctx, 16, 16)
    yield chain
    chain.release()


def frame_of(chain: ShaderChain) -> np.ndarray:
    fbo = chain.ctx.framebuffer(color_attachments=[chain.output])
    out = read_image(fbo)
    fbo.release()
    return out


def solid(value, w=16, h=16) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_default_params_are_the_schema_defaults():
    from installation.live import Frame, live_specs

    p = default_params()
    assert p["warp.swirl"] == 0.6 and p["feedback.amount"] == 0.55 and p["grade.gamma"] == 1.0
    assert set(p) == {s.key for s in live_specs()}
    frame = Frame.defaults()
    assert frame.warp.swirl == 0.6 and frame.grade.gamma == 1.0  # typed sections, named like the schema


def test_black_before_any_content(chain):
    chain.render(NEUTRAL, 0.0, 1.0)
    assert frame_of(chain).max() == 0


@pytest.mark.parametrize("bad", [np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.float32), np.zeros((0, 4, 3), np.uint8)])
def test_push_content_rejects_bad_frames(chain, bad):
    with pytest.raises(ValueError, match="uint8 image"):
        chain.push_content(bad)


def test_content_mix_crossfades_previous_and_newest(chain):
    chain.push_content(solid(40))
    chain.push_content(solid(200, w=32, h=8))  # another size: scaled to the output
    np.testing.assert_allclose(frame_of_render(chain, 0.0), 40, atol=1)
    np.testing.assert_allclose(frame_of_render(chain, 1.0), 200, atol=1)
    np.testing.assert_allclose(frame_of_render(chain, 0.25), 80, atol=1)
    chain.push_content(solid(120))  # the 200 frame becomes the previous one
    np.testing.assert_allclose(frame_of_render(chain, 0.0), 200, atol=1)


def frame_of_render(chain, content_mix, params=NEUTRAL, t=0.0):
    chain.render(params, t, content_mix)
    return frame_of(chain)


def test_default_show_settings_render_something_alive_and_deterministic(ctx):
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3)]

    def run():
        chain = ShaderChain(ctx, 16, 16)
        outs = []
        for i in range(6):
            if i % 2 == 0:
                chain.push_content(frames[i // 2])
            chain.render(default_params(), i / 30, (i % 2 + 1) / 2)
            outs.append(frame_of(chain))
        chain.release()
        return outs

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[-1].std() > 5  # not flat
    assert np.abs(first[-1].astype(int) - first[-3]).max() > 5  # moving


def test_feedback_decays_to_black_in_float16(chain):
    """8-bit feedback would stick a few steps above black (0.9 * 5/255 rounds back to 5);
    the chain keeps the history in float16 so it fades out."""
    chain.push_content(solid(255))
    params = dict(NEUTRAL, **{"feedback.amount": 0.9, "feedback.zoom": 1.0, "feedback.rotate": 0.0})
    chain.render(params, 0.0, 1.0)
    chain.push_content(solid(0))
    chain.push_content(solid(0))
    for i in range(120):
        chain.render(params, i / 30, 1.0)
    assert frame_of(chain).max() == 0


def test_phases_integrate_speed_so_changes_do_not_jump(chain):
    p = dict(NEUTRAL, **{"warp.swirl_speed": 0.3, "warp.flow_speed": 2.0})
    chain.render(p, 1.0, 1.0)
    assert chain.swirl_phase == pytest.approx(0.3)
    assert chain.flow_phase == pytest.approx(2.0)
    p["warp.swirl_speed"] = 0.5
    chain.render(p, 2.0, 1.0)
    assert chain.swirl_phase == pytest.approx(0.8)  # 0.3 + 0.5 * 1s, not 0.5 * 2s
    chain.render(p, 0.5, 1.0)  # time went back (a new render): restart from t
    assert chain.swirl_phase == pytest.approx(0.25)
    chain.render(dict(p, **{"warp.flow_speed": 10.0}), 60.0, 1.0)
    assert 0.0 <= chain.flow_phase < 256.0  # wrapped at the noise period


# --- read-back and render_scale (the chain's fast paths, against the plain ones) ----------


def test_read_rgba_is_the_window_read_plus_opaque_alpha(headless_window):
    window = headless_window(48, 32)
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


def test_half_scale_grades_small_then_upscales_to_the_output_size(headless_window):
    window = headless_window(48, 32)
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
