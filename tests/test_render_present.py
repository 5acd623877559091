"""render(full_size=False): at render_scale < 1 the window gets the work-size frame and scales it
while drawing it, instead of the chain upscaling it first. What is read back (recordings, NDI,
on_frame) must not change bit for bit; what the screen shows only by filtering."""

from __future__ import annotations

import numpy as np
import pytest

from installation.render.chain import ShaderChain, default_params

from conftest import smooth_frame

SIZE = (48, 32)
PARAMS = {**default_params(), "grade.exposure": 0.3, "grade.vignette": 0.4, "warp.swirl": 1.0}


def run(window, *, pigment: bool, full_size: bool, frames: int = 4, read_every: int = 1):
    """Render a few frames, present each; returns the read-backs taken (every `read_every`-th frame)
    and the chain (to release)."""
    chain = ShaderChain(window.ctx, *SIZE, render_scale=0.5, pigment=pigment)
    reads = []
    for i in range(frames):
        if i % 2 == 0:
            chain.push_content(smooth_frame(40, 40, k=0.7 * i))
        texture = chain.render(PARAMS, i / 30, 0.5 + i / 10, full_size=full_size)
        assert tuple(texture.size) == (SIZE if full_size else chain.work_size)
        window.present(texture)
        if i % read_every == 0:
            reads.append(chain.read_rgba())
    return reads, chain


@pytest.mark.parametrize("pigment", [False, True], ids=["warp", "pigment"])
@pytest.mark.parametrize("read_every", [1, 3])
def test_read_back_is_the_same_bit_for_bit_without_the_upscale(headless_window, pigment, read_every):
    full, chain_a = run(headless_window(*SIZE), pigment=pigment, full_size=True, read_every=read_every)
    skipped, chain_b = run(headless_window(*SIZE), pigment=pigment, full_size=False, read_every=read_every)
    assert len(full) == len(skipped) > 1
    for a, b in zip(full, skipped):
        assert b.shape == (SIZE[1], SIZE[0], 4)
        np.testing.assert_array_equal(a, b)  # a recording made either way is the same file
    assert full[-1][..., :3].std() > 5  # a real picture
    np.testing.assert_array_equal(chain_a.output.read(), chain_b.output.read())  # `output` too
    chain_a.release()
    chain_b.release()


@pytest.mark.parametrize("pigment", [False, True], ids=["warp", "pigment"])
@pytest.mark.parametrize("window_size", [SIZE, (96, 64), (80, 32)], ids=["same", "fullscreen-2x", "letterboxed"])
def test_the_screen_shows_the_same_picture_when_the_window_scales(headless_window, pigment, window_size):
    screens = []
    for full_size in (True, False):
        window = headless_window(*window_size)
        _, chain = run(window, pigment=pigment, full_size=full_size, read_every=99)
        screens.append(window.read_screen().astype(int))
        chain.release()
    old, new = screens
    diff = np.abs(old - new)
    # Drawn at the show's size (letterboxed too): the window's draw is the upscale the chain
    # skipped, pixel for pixel. At twice the size: one bilinear resampling instead of two, a few
    # 8-bit steps on smooth content (measured on llvmpipe: mean 0.35-0.45, max 3-6).
    limit = 0 if window_size != (96, 64) else 8
    assert diff.max() <= limit and diff.mean() < 1.0, (diff.mean(), diff.max())
    if window_size == (80, 32):  # letterboxed: black bars either way
        assert old[:, :16].max() == new[:, :16].max() == 0 and new[:, 64:].max() == 0
    assert new.std() > 5


def test_scale_1_has_nothing_to_skip(headless_window):
    window = headless_window(*SIZE)
    chain = ShaderChain(window.ctx, *SIZE)
    chain.push_content(smooth_frame(40, 40))
    assert chain.render(PARAMS, 0.0, 1.0, full_size=False) is chain.output  # the output itself
    chain.release()
