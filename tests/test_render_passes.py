"""Each shader pass on a small EGL target against a numpy reimplementation of its formula.

Arrays here are in GL orientation (row 0 = bottom), because the passes are tested below the
place where images are flipped (installation/render/window.py). Inputs are float16 or uint8
textures written raw; outputs are read raw.
"""

from __future__ import annotations

import numpy as np
import pytest

from installation.render.passes import (
    ContentPass,
    FeedbackPass,
    GradePass,
    RenderTarget,
    configure_texture,
    fit_scale,
)
from installation.render.shaders import ShaderLibrary

from reference_passes import CrossfadePass, FlowPass, SwirlPass, shader_dir_with_references


@pytest.fixture(scope="module")
def gl(ctx, tmp_path_factory):
    """Here the library also holds the reference passes' shaders (tests/reference_shaders)."""
    library = ShaderLibrary(ctx, shader_dir_with_references(tmp_path_factory.mktemp("gl")))
    yield ctx, library
    library.release()

# Warped sampling tolerance. GPUs blend texels with ~8-bit fractional weights (llvmpipe on
# float textures matches numpy to ~3e-7); two 8-bit steps cover that, while a wrong sign or
# a flipped centre is off by more than 0.2 on these smooth patterns.
WARP_TOL = 2 / 255


# --- helpers ------------------------------------------------------------------------------


def float_texture(ctx, rgb: np.ndarray):
    """[H, W, 3] float (GL rows) -> RGBA float32 texture, so inputs are exact."""
    h, w, _ = rgb.shape
    rgba = np.concatenate([rgb, np.ones((h, w, 1))], axis=2).astype(np.float32)
    tex = ctx.texture((w, h), 4, rgba.tobytes(), dtype="f4")
    configure_texture(tex)
    return tex


def byte_texture(ctx, rgb: np.ndarray):
    h, w, _ = rgb.shape
    tex = ctx.texture((w, h), 3, np.ascontiguousarray(rgb, dtype=np.uint8).tobytes(), alignment=1)
    configure_texture(tex)
    return tex


def read_target(target: RenderTarget) -> np.ndarray:
    """A float render target as [H, W, 3] float (GL rows)."""
    w, h = target.size
    dtype = {"f1": np.uint8, "f2": np.float16, "f4": np.float32}[target.texture.dtype]
    data = np.frombuffer(target.texture.read(), dtype=dtype).reshape(h, w, 4)[..., :3].astype(np.float64)
    return data / 255.0 if dtype is np.uint8 else data


def pixel_uv(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """uv of each pixel centre, [H, W] each, GL rows."""
    u = (np.arange(w) + 0.5) / w
    v = (np.arange(h) + 0.5) / h
    return np.meshgrid(u, v)


def mirror(p: np.ndarray) -> np.ndarray:
    return 1.0 - np.abs(np.mod(p, 2.0) - 1.0)


def sample_bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """GL texture() with LINEAR filtering and CLAMP_TO_EDGE: texel centres at (i + 0.5) / w."""
    h, w, _ = img.shape
    x = u * w - 0.5
    y = v * h - 0.5
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    top = img[ya, xa] * (1 - fx) + img[ya, xb] * fx
    bottom = img[yb, xa] * (1 - fx) + img[yb, xb] * fx
    return top * (1 - fy) + bottom * fy


def smooth_pattern(w: int, h: int) -> np.ndarray:
    """A smooth colourful image, [H, W, 3] in [0, 1] (GL rows)."""
    u, v = pixel_uv(w, h)
    return np.stack(
        [
            0.5 + 0.4 * np.sin(2 * np.pi * (0.9 * u + 0.3 * v)),
            0.5 + 0.4 * np.cos(2 * np.pi * (0.4 * u - 0.8 * v)),
            u * 0.6 + v * 0.3,
        ],
        axis=2,
    )


def rotate(x, y, angle):
    c, s = np.cos(angle), np.sin(angle)
    return c * x - s * y, s * x + c * y


# --- crossfade ----------------------------------------------------------------------------


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_crossfade_mixes_previous_and_newest(gl, mix):
    ctx, library = gl
    rng = np.random.default_rng(1)
    previous = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    newest = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    a, b = byte_texture(ctx, previous), byte_texture(ctx, newest)
    target = RenderTarget(ctx, (16, 16), "f4")
    crossfade = CrossfadePass(library)
    crossfade.render(target.framebuffer, a, b, mix)
    expected = (previous / 255.0) * (1 - mix) + (newest / 255.0) * mix
    np.testing.assert_allclose(read_target(target), expected, atol=1e-4)
    for obj in (crossfade, target, a, b):
        obj.release()


def test_crossfade_cover_crops_the_centre_of_a_wider_frame(gl):
    ctx, library = gl
    rng = np.random.default_rng(2)
    wide = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
    tex = byte_texture(ctx, wide)
    target = RenderTarget(ctx, (16, 16), "f4")
    crossfade = CrossfadePass(library)
    scale = fit_scale((32, 16), (16, 16), "cover")
    assert scale == (0.5, 1.0)
    crossfade.render(target.framebuffer, tex, tex, 1.0, scale, scale)
    # Output pixel centres land exactly on the texel centres of columns 8..23.
    np.testing.assert_allclose(read_target(target), wide[:, 8:24] / 255.0, atol=1e-4)
    for obj in (crossfade, target, tex):
        obj.release()


def test_crossfade_tile_repeats_the_frame_mirrored(gl):
    ctx, library = gl
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    tex = byte_texture(ctx, small)
    target = RenderTarget(ctx, (16, 16), "f4")
    crossfade = CrossfadePass(library)
    scale = fit_scale((8, 8), (16, 16), "tile", 2.0)
    assert scale == (2.0, 2.0)
    crossfade.render(target.framebuffer, tex, tex, 1.0, scale, scale)
    # Output pixel i samples content coordinate (i - 3.5) / 8, reflected at 0 and 1: every
    # pixel lands on a texel centre, so the picture is the frame mirrored, exactly.
    c = (np.arange(16) - 3.5) / 8
    texel = np.floor((1 - np.abs(np.mod(c, 2) - 1)) * 8).astype(int)
    assert list(texel[:5]) == [3, 2, 1, 0, 0]  # the seam at 0 meets its own reflection
    np.testing.assert_allclose(read_target(target), small[texel][:, texel] / 255.0, atol=1e-4)
    for obj in (crossfade, target, tex):
        obj.release()


def test_fit_scale():
    assert fit_scale((64, 64), (1280, 720), "stretch") == (1.0, 1.0)
    sx, sy = fit_scale((64, 64), (1280, 720), "cover")  # square content on a wide screen: crop top/bottom
    assert sx == 1.0 and sy == pytest.approx(720 / 1280)
    sx, sy = fit_scale((64, 64), (1280, 720), "tile", 3.0)  # 3 copies high, square pixels
    assert sy == 3.0 and sx == pytest.approx(3.0 * 1280 / 720)
    with pytest.raises(ValueError, match="tiles"):
        fit_scale((64, 64), (1280, 720), "tile", 0.0)
    with pytest.raises(ValueError, match="fit"):
        fit_scale((1, 1), (1, 1), "zoom")


# --- swirl --------------------------------------------------------------------------------


def swirl_reference(img, w, h, strength, radius, centre, phase):
    u, v = pixel_uv(w, h)
    aspect = w / h
    qx, qy = (u - centre[0]) * aspect, v - centre[1]
    r = np.hypot(qx, qy) / radius
    s = np.clip(r, 0, 1)
    falloff = 1 - s * s * (3 - 2 * s)
    angle = strength * falloff * np.cos(2 * np.pi * phase)
    rx, ry = rotate(qx, qy, angle)
    return sample_bilinear(img, mirror(centre[0] + rx / aspect), mirror(centre[1] + ry))


@pytest.mark.parametrize("size", [(16, 16), (32, 16)])
def test_swirl_zero_strength_is_identity(gl, size):
    ctx, library = gl
    w, h = size
    img = smooth_pattern(w, h)
    src = float_texture(ctx, img)
    target = RenderTarget(ctx, size, "f4")
    swirl = SwirlPass(library)
    swirl.render(target.framebuffer, src, strength=0.0, radius=0.5, centre=(0.3, 0.6), phase=0.1)
    np.testing.assert_allclose(read_target(target), img, atol=1e-5)
    for obj in (swirl, target, src):
        obj.release()


@pytest.mark.parametrize("size", [(16, 16), (32, 16)])
def test_swirl_matches_numpy(gl, size):
    ctx, library = gl
    w, h = size
    img = smooth_pattern(w, h)
    src = float_texture(ctx, img)
    target = RenderTarget(ctx, size, "f4")
    swirl = SwirlPass(library)
    args = dict(strength=2.5, radius=0.6, centre=(0.4, 0.55), phase=0.1)
    swirl.render(target.framebuffer, src, **args)
    got = read_target(target)
    expected = swirl_reference(img, w, h, **args)
    assert np.abs(expected - img).max() > 0.1  # the swirl does move things
    np.testing.assert_allclose(got, expected, atol=WARP_TOL)
    for obj in (swirl, target, src):
        obj.release()


# --- flow ---------------------------------------------------------------------------------


def test_flow_zero_strength_is_identity(gl):
    ctx, library = gl
    img = smooth_pattern(16, 16)
    src = float_texture(ctx, img)
    target = RenderTarget(ctx, (16, 16), "f4")
    flow = FlowPass(library)
    flow.render(target.framebuffer, src, strength=0.0, scale=3.0, phase=1.7)
    np.testing.assert_allclose(read_target(target), img, atol=1e-5)
    for obj in (flow, target, src):
        obj.release()


def test_flow_moves_pixels_and_roughly_keeps_the_mean(gl):
    ctx, library = gl
    img = smooth_pattern(16, 16)
    src = float_texture(ctx, img)
    target = RenderTarget(ctx, (16, 16), "f4")
    flow = FlowPass(library)
    flow.render(target.framebuffer, src, strength=0.08, scale=3.0, phase=1.7)
    got = read_target(target)
    assert np.abs(got - img).max() > 0.05
    np.testing.assert_allclose(got.mean(axis=(0, 1)), img.mean(axis=(0, 1)), atol=0.03)
    # A different moment of the field moves things differently.
    flow.render(target.framebuffer, src, strength=0.08, scale=3.0, phase=2.4)
    assert np.abs(read_target(target) - got).max() > 0.01
    for obj in (flow, target, src):
        obj.release()


def test_flow_field_is_divergence_free(gl):
    """Feed the pass an image whose colour is its own uv: the output is then the source
    coordinate of each pixel, i.e. the displacement field. Its divergence must be small
    next to its curl (a curl-noise field has none; the RK2 step adds O(strength^2))."""
    ctx, library = gl
    n = 48
    u, v = pixel_uv(n, n)
    coords = np.stack([u, v, np.zeros_like(u)], axis=2)
    src = float_texture(ctx, coords)
    target = RenderTarget(ctx, (n, n), "f4")
    flow = FlowPass(library)
    flow.render(target.framebuffer, src, strength=0.004, scale=3.0, phase=0.6)
    got = read_target(target)
    dx, dy = got[..., 0] - u, got[..., 1] - v  # displacement, uv units [H, W]
    inner = slice(4, n - 4)  # away from the clamped border texels
    ddx_du = np.gradient(dx, axis=1)[inner, inner]
    ddy_dv = np.gradient(dy, axis=0)[inner, inner]
    ddy_du = np.gradient(dy, axis=1)[inner, inner]
    ddx_dv = np.gradient(dx, axis=0)[inner, inner]
    divergence = np.abs(ddx_du + ddy_dv).mean()
    curl = np.abs(ddy_du - ddx_dv).mean()
    assert curl > 1e-4
    assert divergence < 0.05 * curl, (divergence, curl)
    for obj in (flow, target, src):
        obj.release()


# --- the chain's fused content pass ---------------------------------------------------------


def test_content_pass_is_crossfade_then_swirl_then_flow(gl):
    """ContentPass composes the coordinates: flow looks into the swirled image, swirl into
    the crossfaded one. Checked against numpy, and against running the three passes."""
    ctx, library = gl
    w, h = 32, 16
    previous = np.round(smooth_pattern(w, h) * 255).astype(np.uint8)
    newest = np.round(smooth_pattern(w, h)[..., ::-1] * 255).astype(np.uint8)
    tex_prev, tex_new = byte_texture(ctx, previous), byte_texture(ctx, newest)
    swirl = dict(strength=1.5, radius=0.7, centre=(0.45, 0.5), phase=0.05)
    flow = dict(strength=0.03, scale=2.0, phase=0.8)
    mix = 0.3

    fused = RenderTarget(ctx, (w, h), "f4")
    content = ContentPass(library)
    content.render(fused.framebuffer, tex_prev, tex_new, mix, (1.0, 1.0), (1.0, 1.0), swirl=swirl, flow=flow)
    got = read_target(fused)

    # Three separate passes; the fused result differs only by the extra bilinear filtering.
    a, b = RenderTarget(ctx, (w, h), "f4"), RenderTarget(ctx, (w, h), "f4")
    passes = [CrossfadePass(library), SwirlPass(library), FlowPass(library)]
    passes[0].render(a.framebuffer, tex_prev, tex_new, mix)
    passes[1].render(b.framebuffer, a.texture, **swirl)
    passes[2].render(a.framebuffer, b.texture, **flow)
    separate = read_target(a)
    assert np.abs(got - separate).mean() < 0.01

    # With flow off, the reference is exact: crossfade sampled at the swirl coordinate.
    content.render(fused.framebuffer, tex_prev, tex_new, mix, (1.0, 1.0), (1.0, 1.0), swirl=swirl,
                   flow=dict(flow, strength=0.0))
    crossfaded = previous / 255.0 * (1 - mix) + newest / 255.0 * mix
    np.testing.assert_allclose(read_target(fused), swirl_reference(crossfaded, w, h, **swirl), atol=WARP_TOL)
    for obj in (content, fused, a, b, tex_prev, tex_new, *passes):
        obj.release()


# --- feedback -----------------------------------------------------------------------------


def test_feedback_amount_zero_gives_the_new_frame(gl):
    ctx, library = gl
    img = smooth_pattern(16, 16)
    src = float_texture(ctx, img)
    feedback = FeedbackPass(library, (16, 16), "f4")
    for _ in range(2):
        out = feedback.render(src, amount=0.0, zoom=1.1, rotate=0.2)
    assert out is feedback.output
    got = np.frombuffer(out.read(), np.float32).reshape(16, 16, 4)[..., :3]
    np.testing.assert_allclose(got, img, atol=1e-5)
    feedback.release()
    src.release()


def test_feedback_follows_the_recurrence_over_three_frames(gl):
    ctx, library = gl
    w = h = 16
    amount, zoom, rot = 0.6, 1.15, 0.25
    rng = np.random.default_rng(3)
    news = [smooth_pattern(w, h) * rng.uniform(0.5, 1.0, 3) for _ in range(3)]
    u, v = pixel_uv(w, h)
    rx, ry = rotate(u - 0.5, v - 0.5, -rot)
    su, sv = mirror(0.5 + rx / zoom), mirror(0.5 + ry / zoom)

    feedback = FeedbackPass(library, (w, h), "f4")
    previous = np.zeros((h, w, 3))  # the history starts black
    for new in news:
        tex = float_texture(ctx, new)
        out = feedback.render(tex, amount=amount, zoom=zoom, rotate=rot)
        expected = new * (1 - amount) + sample_bilinear(previous, su, sv) * amount
        got = np.frombuffer(out.read(), np.float32).reshape(h, w, 4)[..., :3]
        np.testing.assert_allclose(got, expected, atol=WARP_TOL)
        previous = expected
        tex.release()
    feedback.release()


# --- grade --------------------------------------------------------------------------------


def grade_reference(c, w, h, exposure, contrast, saturation, hue, gamma, vignette):
    c = c * 2.0**exposure
    c = (c - 0.5) * contrast + 0.5
    luma = (c * np.array([0.2126, 0.7152, 0.0722])).sum(axis=2, keepdims=True)
    c = luma + (c - luma) * saturation
    k = np.full(3, 1 / np.sqrt(3))
    angle = 2 * np.pi * hue
    c = c * np.cos(angle) + np.cross(k, c) * np.sin(angle) + k * (c @ k)[..., None] * (1 - np.cos(angle))
    c = np.clip(c, 0, 1) ** (1 / gamma)
    u, v = pixel_uv(w, h)
    aspect = w / h
    d2 = (((u - 0.5) * aspect) ** 2 + (v - 0.5) ** 2) / ((0.5 * aspect) ** 2 + 0.25)
    return np.clip(c * (1 - vignette * d2)[..., None], 0, 1)


@pytest.mark.parametrize(
    "args",
    [
        dict(exposure=0.0, contrast=1.0, saturation=1.0, hue=0.0, gamma=1.0, vignette=0.0),
        dict(exposure=0.4, contrast=1.3, saturation=1.5, hue=0.15, gamma=1.8, vignette=0.6),
        dict(exposure=-1.0, contrast=0.7, saturation=0.0, hue=-0.4, gamma=0.6, vignette=1.0),
    ],
)
def test_grade_matches_numpy(gl, args):
    ctx, library = gl
    img = smooth_pattern(16, 16)
    src = float_texture(ctx, img)
    target = RenderTarget(ctx, (16, 16), "f1")  # the chain's output format
    grade = GradePass(library)
    grade.render(target.framebuffer, src, **args)
    expected = grade_reference(img, 16, 16, **args)
    np.testing.assert_allclose(read_target(target), expected, atol=2 / 255)
    for obj in (grade, target, src):
        obj.release()
