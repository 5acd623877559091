"""Windows: orientation end to end, letterboxing, and a real glfw window under a display."""

from __future__ import annotations

import numpy as np
import pytest

from installation.render.chain import ShaderChain
from installation.render.window import (
    GlfwWindow,
    HeadlessWindow,
    Window,
    has_display,
    letterbox,
    list_monitors,
    open_window,
)

# Identity settings: no warps, no feedback, neutral grade, no vignette.
NEUTRAL = {
    "warp.swirl": 0.0,
    "warp.flow": 0.0,
    "feedback.amount": 0.0,
    "grade.exposure": 0.0,
    "grade.contrast": 1.0,
    "grade.saturation": 1.0,
    "grade.hue": 0.0,
    "grade.gamma": 1.0,
    "grade.vignette": 0.0,
}


def top_red_image(w: int = 16, h: int = 16) -> np.ndarray:
    """Row 0 (the top) red, the rest dark blue."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 2] = 80
    img[0] = (255, 0, 0)
    return img


@pytest.fixture
def headless(headless_window):
    return headless_window(16, 16)


def test_headless_window_implements_the_interface(headless):
    assert isinstance(headless, HeadlessWindow)
    assert isinstance(headless, Window)
    assert headless.size == (16, 16)
    assert headless.poll() == []
    assert not headless.should_close()
    headless.set_fullscreen(True)  # a no-op headless
    with pytest.raises(RuntimeError, match="before present"):
        headless.read()


def test_top_row_stays_on_top_through_chain_present_and_read(headless):
    chain = ShaderChain(headless.ctx, 16, 16)
    image = top_red_image()
    chain.push_content(image)
    headless.present(chain.render(NEUTRAL, 0.0, 1.0))
    frame = headless.read()
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8
    np.testing.assert_allclose(frame, image, atol=1)
    np.testing.assert_allclose(headless.read_screen(), image, atol=1)  # the offscreen screen agrees
    chain.release()


def test_swirl_centre_y_is_measured_from_the_bottom(headless):
    """warp.swirl_y = 0 is the bottom (the schema's convention): a swirl centred at the
    bottom moves the bottom rows and leaves the top row alone."""
    chain = ShaderChain(headless.ctx, 16, 16)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    chain.push_content(image)
    params = dict(NEUTRAL, **{"warp.swirl": 3.0, "warp.swirl_radius": 0.3, "warp.swirl_x": 0.5, "warp.swirl_y": 0.0})
    headless.present(chain.render(params, 0.0, 1.0))
    frame = headless.read().astype(int)
    assert np.abs(frame[-1] - image[-1]).max() > 40
    np.testing.assert_allclose(frame[:4], image[:4], atol=1)
    chain.release()


def test_letterbox_viewport():
    assert letterbox((16, 9), (1920, 1080)) == (0, 0, 1920, 1080)
    assert letterbox((16, 16), (32, 16)) == (8, 0, 16, 16)  # bars left and right
    assert letterbox((32, 16), (32, 32)) == (0, 8, 32, 16)  # bars top and bottom


def test_present_letterboxes_into_a_differently_shaped_window(headless_window):
    window = headless_window(32, 16)
    chain = ShaderChain(window.ctx, 16, 16)
    image = top_red_image()
    chain.push_content(image)
    window.present(chain.render(NEUTRAL, 0.0, 1.0))
    np.testing.assert_allclose(window.read(), image, atol=1)  # read: the frame at its own size
    screen = window.read_screen()
    assert screen.shape == (16, 32, 3)
    assert screen[:, :8].max() == 0 and screen[:, 24:].max() == 0  # black bars
    np.testing.assert_allclose(screen[:, 8:24], image, atol=1)
    chain.release()


@pytest.mark.skipif(not has_display(), reason="no display (set DISPLAY or run under `xvfb-run -a`)")
def test_glfw_window_opens_presents_reads_and_closes():
    window = open_window(False, 16, 16, title="installation test", vsync=False)  # same size: blit path
    assert isinstance(window, GlfwWindow) and isinstance(window, Window)
    assert window.size[0] > 0 and window.size[1] > 0
    chain = ShaderChain(window.ctx, 16, 16)
    image = top_red_image()
    chain.push_content(image)
    for i in range(3):
        assert isinstance(window.poll(), list)
        window.present(chain.render(NEUTRAL, i / 30, 1.0))
        np.testing.assert_allclose(window.read(), image, atol=1)
    assert not window.should_close()
    monitors = list_monitors()
    assert monitors and {"index", "name", "current", "modes"} <= set(monitors[0])
    window.set_fullscreen(True)
    window.present(chain.render(NEUTRAL, 0.2, 1.0))
    window.set_fullscreen(False)
    window.present(chain.render(NEUTRAL, 0.3, 1.0))
    np.testing.assert_allclose(window.read(), image, atol=1)
    with pytest.raises(ValueError, match="monitor 7 does not exist"):
        window.set_fullscreen(True, monitor=7)
    chain.release()
    window.close()
    assert window.should_close()


@pytest.mark.skipif(not has_display(), reason="no display (set DISPLAY or run under `xvfb-run -a`)")
def test_glfw_window_follows_monitor_changes_and_hides_cursor_for_galleries():
    import glfw

    window = open_window(False, 16, 16, vsync=False, fullscreen=True, monitor=0, hide_cursor=True)
    chain = ShaderChain(window.ctx, 16, 16)
    chain.push_content(top_red_image())
    assert glfw.get_input_mode(window.window, glfw.CURSOR) == glfw.CURSOR_HIDDEN
    # The projector the show asked for (monitor 3) is gone: a monitor event moves the
    # fullscreen window to the first monitor, and the show goes on presenting.
    window.monitor = 3
    window._on_monitor(None, glfw.DISCONNECTED)
    window.poll()
    assert window.fullscreen and glfw.get_window_monitor(window.window) is not None
    assert window.monitor == 3  # it returns there when that monitor is plugged back in
    window.present(chain.render(NEUTRAL, 0.1, 1.0))
    window.set_fullscreen(False, 0)
    assert glfw.get_input_mode(window.window, glfw.CURSOR) == glfw.CURSOR_HIDDEN  # gallery: still hidden
    chain.release()
    window.close()
