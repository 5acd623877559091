"""Pigment flow on real EGL at small sizes: advection, decay, injection, projection, tone (GL vs numpy) and the fill."""

from dataclasses import replace

import moderngl
import numpy as np
import pytest

from installation.look import self_similarity
from installation.render.passes import RenderTarget
from installation.render.pigment import PigmentFlow, PigmentParams, fill_magnification
from installation.render.tone import ToneParams, TonePass, apply_tone
from installation.render.window import write_image

# No flow, no lighting, no bloom; the tests turn on what they check.
STILL = PigmentParams(curl=0.0, vortices=0, wind_x=0.0, wind_y=0.0, relax=30.0, inject=0.0, decay=0.0, fade=0.0,
                      diffusion=0.0, sheen=0.0, glint=0.0, bloom=0.0, fill_border=0.0, speed=1.0)


def content_texture(ctx, image):
    texture = ctx.texture((image.shape[1], image.shape[0]), 3)
    write_image(texture, image)
    return texture


def dot_image(size=32, x=10, y=16):
    image = np.zeros((size, size, 3), np.uint8)
    image[y - 1 : y + 1, x - 1 : x + 1] = 255  # 2x2 px; row 0 = top
    return image


def centroid(dye):
    """(x, y) of the dye's mass; dye rows bottom-first (GL), so y counts up from the bottom."""
    m = dye.sum(axis=-1)
    ys, xs = np.mgrid[: m.shape[0], : m.shape[1]]
    return (xs * m).sum() / m.sum(), (ys * m).sum() / m.sum()


def load(gl, image, params, fill="cover"):
    """A 32x32 pigment holding `image` as dye, velocity settled on `params`' target field."""
    ctx, library = gl
    flow = PigmentFlow(library, (image.shape[1], image.shape[0]), fill=fill, fill_divisor=1, grid_divisor=8)
    texture = content_texture(ctx, image)
    flow.push(texture, params)
    for _ in range(12):  # speed 0: the dye stays, the velocity relaxes onto its target
        flow.render(0.1, replace(params, speed=0.0, inject=1.0, inject_gate=0.0))
    texture.release()
    return flow


@pytest.mark.parametrize("wind, expected", [((0.25, 0.0), (4.0, 0.0)), ((0.0, -0.25), (0.0, -4.0))])
def test_a_dot_moves_with_uniform_wind(gl, wind, expected):
    params = replace(STILL, wind_x=wind[0], wind_y=wind[1])
    flow = load(gl, dot_image(), params)
    x0, y0 = centroid(flow.read_dye())
    for _ in range(5):  # 5 x 0.1 s x 0.25 heights/s = 0.125 heights = 4 px of 32
        flow.render(0.1, params)
    x1, y1 = centroid(flow.read_dye())
    flow.release()
    assert x1 - x0 == pytest.approx(expected[0], abs=0.3)
    assert y1 - y0 == pytest.approx(expected[1], abs=0.3)


def test_dot_y_axis_is_gl_up(gl):
    # The dot is drawn at image row 8 from the top of 32: GL row 23 from the bottom.
    flow = load(gl, dot_image(y=8), STILL)
    _, y = centroid(flow.read_dye())
    flow.release()
    assert y == pytest.approx(32 - 8 - 0.5, abs=0.3)


def test_dye_decays_at_the_set_rate(gl):
    image = np.full((32, 32, 3), 200, np.uint8)
    params = replace(STILL, decay=2.0)
    flow = load(gl, image, STILL)
    before = flow.read_dye().mean()
    flow.render(0.1, params)
    flow.render(0.1, params)
    after = flow.read_dye().mean()
    flow.release()
    assert before == pytest.approx(200 / 255, abs=2e-3)
    assert after / before == pytest.approx(np.exp(-2.0 * 0.2), rel=5e-3)


def test_fade_takes_faint_dye_to_true_black_and_keeps_bright_dye(gl):
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = 10  # faint fog on the left
    image[:, 16:] = 200
    flow = load(gl, image, STILL)
    for _ in range(3):
        flow.render(0.1, replace(STILL, fade=0.2))  # 0.06 subtracted: more than 10/255
    dye = flow.read_dye()
    flow.release()
    assert dye[:, :14].max() == 0.0
    assert dye[:, 18:].mean() == pytest.approx(200 / 255 - 0.06, abs=3e-3)


def test_gated_injection_follows_the_content_above_its_mean(gl):
    ctx, _ = gl
    image = np.full((32, 32, 3), 30, np.uint8)  # a background ...
    image[8:24, 8:24] = 220  # ... and one bright patch
    params = replace(STILL, inject=1.0, inject_gate=1.0, gate_low=0.05, gate_high=0.1, hue_spread=0.0, smear=0.0)
    flow = load(gl, np.zeros((32, 32, 3), np.uint8), STILL)
    texture = content_texture(ctx, image)
    flow.push(texture, params)
    flow.push(texture, params)
    flow.render(1 / 60, params)
    dye = flow.read_dye()[::-1]
    flow.release()
    texture.release()
    assert dye[12:20, 12:20].mean() == pytest.approx(220 / 255, abs=3e-3)  # bright: replaced
    assert dye[:4, :4].max() < 1e-3  # the background: nothing injected


def test_parts_that_are_off_are_compiled_out(gl):
    _, library = gl
    flow = PigmentFlow(library, (32, 32), fill_divisor=1)
    flow.render(1 / 30, replace(PigmentParams(), diffusion=0.0, smear=0.0, hue_spread=0.0, sheen=0.0, glint=0.0, bloom=0.0))
    flow.render(1 / 30, replace(PigmentParams(), diffusion=0.2))
    dye_variants = set(flow.dye_pass._passes)
    inject_variants = set(flow.inject_pass._passes)
    flow.release()
    assert dye_variants == {(), ("DIFFUSION", "SHEEN", "BLOOM")}
    assert inject_variants == {(), ("HUE", "SMEAR")}


def test_bloom_off_skips_its_passes_and_on_glows_around_a_bright_point(gl, monkeypatch):
    ctx, library = gl
    flow = PigmentFlow(library, (64, 64), fill_divisor=1)
    drawn = []
    for name in ("bloom_pass", "glow_pass"):
        draw = getattr(flow, name).draw
        monkeypatch.setattr(getattr(flow, name), "draw", lambda *a, _draw=draw, _name=name, **k: (drawn.append(_name), _draw(*a, **k)))
    image = np.zeros((64, 64, 3), np.uint8)
    image[30:34, 30:34] = 255
    texture = content_texture(ctx, image)
    still = replace(STILL, inject=1.0, inject_gate=0.0, smear=0.0, hue_spread=0.0)
    flow.push(texture, still)
    pictures = {}
    for bloom in (0.0, 3.0):
        for _ in range(2):  # the glow is made from the dye so far: a frame late
            out = flow.render(1 / 30, replace(still, bloom=bloom, bloom_threshold=0.1), ToneParams(black=0.0))
        pictures[bloom] = np.frombuffer(out.read(), np.uint8).reshape(64, 64, 4)[..., :3].astype(float)
        if bloom == 0.0:
            assert drawn == []  # off: not drawn at all
    flow.release()
    texture.release()
    assert drawn.count("bloom_pass") == 2 and drawn.count("glow_pass") == 2
    ring = pictures[3.0][26:38, 38:42].mean() - pictures[0.0][26:38, 38:42].mean()  # 4-8 px beside the point
    assert ring > 20


def picture_mean(gl, level, tone, frames=3):
    """Mean of the toned picture of a uniform content of `level` (0..255) held as dye."""
    flow = load(gl, np.full((32, 32, 3), level, np.uint8), STILL)
    for _ in range(frames):  # the auto exposure reads the dye so far: a frame late
        out = flow.render(1 / 30, STILL, tone)
    picture = np.frombuffer(out.read(), np.uint8).reshape(32, 32, 4)[..., :3].astype(float)
    flow.release()
    return picture.mean()


def test_auto_exposure_brings_dim_and_bright_dye_towards_its_target(gl):
    fixed = ToneParams(black=0.0, palette=0.0, saturation=1.0)
    auto = replace(fixed, auto_exposure=1.0, auto_target=0.1, auto_range=4.0)
    dim_fixed, bright_fixed = picture_mean(gl, 12, fixed), picture_mean(gl, 200, fixed)
    dim_auto, bright_auto = picture_mean(gl, 12, auto), picture_mean(gl, 200, auto)
    target = picture_mean(gl, round(0.1 * 255 / 2 ** fixed.exposure), fixed)  # the dye whose mean is the target
    assert bright_fixed - dim_fixed > 80  # fixed: 4 stops apart stay far apart
    assert abs(dim_auto - target) < 3 and abs(bright_auto - target) < 3
    assert dim_auto > dim_fixed + 30 and bright_auto < bright_fixed - 30


def test_auto_exposure_moves_at_most_its_range(gl):
    fixed = ToneParams(black=0.0, palette=0.0, saturation=1.0)
    one_stop = replace(fixed, auto_exposure=1.0, auto_target=0.4, auto_range=1.0)
    up_one = replace(fixed, exposure=fixed.exposure + 1.0)
    assert picture_mean(gl, 12, one_stop) == pytest.approx(picture_mean(gl, 12, up_one), abs=1.5)


def test_small_grids_are_fractions_of_the_render_size(gl):
    _, library = gl
    flow = PigmentFlow(library, (640, 360))
    sizes = flow.velocity.grid, flow.fill.newest.size, flow.inject.size, flow.bloom_source.size
    flow.release()
    assert sizes == ((80, 45), (160, 90), (160, 90), (160, 90))


@pytest.mark.parametrize("mode, tiles, zoom, expected", [
    ("tiles", 10.0, 0.18, 90 / (10 * 0.18 * 58)),  # the shows: a 64 px frame, 3 px border, ~1:1
    ("mirror", 2.0, 0.18, 90 / (2 * 58)),
    ("cover", 1.0, 0.18, 90 / (58 * 9 / 16)),  # a square frame covering 16:9: its width spans it
])
def test_fill_magnification(mode, tiles, zoom, expected):
    assert fill_magnification((64, 64), (160, 90), mode, tiles, zoom, 3.0) == pytest.approx(expected)


def test_fill_samples_bicubic_only_where_it_magnifies(gl):
    ctx, library = gl
    flow = PigmentFlow(library, (640, 360))
    texture = content_texture(ctx, sky(64, 64))
    flow.push(texture, replace(PigmentParams(), fill_tiles=10.0, fill_zoom=0.18))  # ~0.9x: bilinear
    flow.push(texture, replace(PigmentParams(), fill_tiles=2.0, fill_zoom=0.1))  # ~8x: bicubic
    variants = set(flow.fill.pass_._passes)
    flow.release()
    texture.release()
    assert variants == {("FILL_BILINEAR",), ()}


def test_injection_mix_one_gives_the_content(gl):
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    ctx, _ = gl
    params = replace(PigmentParams(), fill_border=0.0, inject=1.0, inject_gate=0.0, hue_spread=0.0,
                     smear=0.0)  # flowing, yet replaced
    flow = load(gl, dot_image(), params)
    texture = content_texture(ctx, image)
    flow.push(texture, params)
    flow.render(1 / 30, params, content_mix=1.0)
    dye = flow.read_dye()[::-1]  # top-first, as the image
    flow.release()
    texture.release()
    np.testing.assert_allclose(dye, image / 255.0, atol=2.5e-3)


def test_output_is_finite_and_in_range_with_every_effect_on(gl):
    ctx, _ = gl
    image = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    params = replace(PigmentParams(), project_iterations=4, diffusion=0.3)
    flow = PigmentFlow(gl[1], (48, 27), fill="tiles")
    texture = content_texture(ctx, image)
    flow.push(texture, params)
    for i in range(8):
        if i % 3 == 0:
            flow.impulse(0.3, 0.6, 0.8, 0.2)
        out = flow.render(1 / 30, params, content_mix=0.5)
    dye = flow.read_dye()
    velocity = flow.velocity.read()
    rgb = np.frombuffer(out.read(), np.uint8).reshape(27, 48, 4)[..., :3]
    flow.release()
    texture.release()
    assert np.isfinite(dye).all() and np.isfinite(velocity).all()
    assert dye.min() >= 0.0 and dye.max() <= 1.5
    assert 20 < rgb.mean() < 235  # neither black (NaN reads as 0) nor blown out
    assert np.abs(velocity).max() > 0.05  # something flows


def divergence(v):
    return 0.5 * (v[1:-1, 2:, 0] - v[1:-1, :-2, 0] + v[2:, 1:-1, 1] - v[:-2, 1:-1, 1])


def test_projection_reduces_divergence(gl):
    _, library = gl
    flow = PigmentFlow(library, (128, 128), grid_divisor=4)  # a 32x32 grid
    params = replace(STILL, relax=0.0)
    flow.impulse(0.5, 0.5, 1.0, 0.2)  # an outward push: all divergence
    flow.velocity.step(0.05, params, flow._impulses)
    before = np.abs(divergence(flow.velocity.read())).mean()
    flow.velocity.project(60)  # Jacobi is slow on a wide push: 30 -> -46%, 100 -> -78% (measured)
    after = np.abs(divergence(flow.velocity.read())).mean()
    flow.release()
    assert before > 1e-3
    assert after < 0.5 * before


def test_vortices_keep_turning_one_way(gl):
    _, library = gl
    flow = PigmentFlow(library, (64, 64), grid_divisor=2)
    params = replace(STILL, vortices=1, vortex_speed=0.3, vortex_radius=0.15, relax=30.0)
    for _ in range(10):
        flow.velocity.step(0.1, params, [])
    x, y = flow.velocity.vortex_uniforms(params)[0][:2]
    v = flow.velocity.read()  # rows bottom-first, [32, 32, 2]
    i, j = int(y * 32), int(x * 32)
    # Counter-clockwise (positive) vortex: right of the centre flows up, left flows down.
    assert v[i, min(j + 4, 31), 1] > 0.05
    assert v[i, max(j - 4, 0), 1] < -0.05
    flow.release()


@pytest.mark.parametrize("params_cls", [PigmentParams, ToneParams])
def test_every_param_has_a_range_and_a_doc(params_cls):
    from dataclasses import fields

    rows = fields(params_cls)  # what config.py builds the [pigment] and [tone] sections from
    assert len(rows) > (20 if params_cls is PigmentParams else 10)
    for f in rows:
        (lo, hi), doc = f.metadata["range"], f.metadata["doc"]
        assert lo <= f.default <= hi, f.name
        assert doc, f.name


# --- tone ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [ToneParams(), ToneParams(exposure=-1.0, knee=0.3, saturation=0.6, hue=0.2, palette=0.0, shoulder=1.0),
                                    ToneParams(exposure=2.0, saturation=2.5, palette=1.0, hue=-0.1)])
def test_tone_gl_matches_numpy(gl, params):
    ctx, library = gl
    rng = np.random.default_rng(3)
    colours = (rng.random((16, 16, 3)) ** 3 * 1.5).astype(np.float32)  # mostly faint, some above 1
    source = ctx.texture((16, 16), 3, colours.tobytes(), dtype="f4")
    source.filter = (moderngl.NEAREST, moderngl.NEAREST)
    target = RenderTarget(ctx, (16, 16), "f4")
    tone = TonePass(library)
    tone.render(target.framebuffer, source, params)
    got = np.frombuffer(target.texture.read(), np.float32).reshape(16, 16, 4)[..., :3]
    for r in (tone, target, source):
        r.release()
    np.testing.assert_allclose(got, apply_tone(colours, params), atol=2e-4)


def test_tone_lifts_faint_structure_and_never_flattens_a_channel():
    p = ToneParams(exposure=0.5, black=0.0, knee=0.06, white=1.2)  # the curve's shape, whatever the tuned defaults
    faint = apply_tone(np.array([[0.02, 0.02, 0.02], [0.04, 0.04, 0.04]]), p)
    assert faint[0, 0] > 0.1  # 5/255 becomes visible
    assert faint[1, 0] > faint[0, 0] + 0.03  # and stays distinct from its neighbour
    hot = apply_tone(np.array([[4.0, 1.0, 0.2], [8.0, 2.0, 0.4]]), p)
    assert (hot <= 1.0).all()
    assert (hot[:, 0] > hot[:, 1]).all() and (hot[:, 1] > hot[:, 2]).all()  # hue order kept, no flat colour
    assert hot[0, 0] < 1.0 or hot[0, 1] < 1.0


def test_tone_black_point_makes_faint_values_black_and_keeps_hue():
    p = ToneParams(exposure=0.0, black=0.1, palette=0.0, saturation=1.0)
    out = apply_tone(np.array([[0.05, 0.08, 0.09], [0.8, 0.4, 0.2]]), p)
    assert (out[0] == 0.0).all()  # under the black point: true black
    assert out[1, 0] > out[1, 1] > out[1, 2] > 0.0  # above it: lit, colour order kept


# --- fill ------------------------------------------------------------------------------------


def sky(h=64, w=64, seed=0):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    clouds = gaussian_filter(rng.random((h, w, 3)), (4, 4, 0)) * 400 - 150
    stars = np.zeros((h, w))
    stars[rng.integers(0, h, 40), rng.integers(0, w, 40)] = rng.random(40) * 3000
    stars = gaussian_filter(stars, 0.8)[..., None]
    return np.clip(40 + clouds + stars, 0, 255).astype(np.uint8)


def filled(gl, image, fill, size=(192, 108), **kw):
    ctx, library = gl
    flow = PigmentFlow(library, size, fill=fill, fill_divisor=1)
    texture = content_texture(ctx, image)
    params = replace(STILL, **kw)
    flow.push(texture, params)
    out = np.frombuffer(flow.fill.newest.texture.read(), np.uint8).reshape(size[1], size[0], 4)[::-1, :, :3].copy()
    flow.release()
    texture.release()
    return out


def test_fill_crops_the_edge_rows(gl):
    image = sky()
    image[:2] = image[-2:] = (255, 0, 0)  # the generator's edge rows, as a red seam
    image[:, :2] = image[:, -2:] = (0, 255, 0)
    for fill in ("cover", "tiles"):
        out = filled(gl, image, fill, fill_border=3.0)
        red = (out[..., 0] > 150) & (out[..., 1] < 60)
        green = (out[..., 1] > 150) & (out[..., 0] < 60)
        assert red.mean() < 0.002 and green.mean() < 0.002, fill


def test_fill_modes_self_similarity(gl):
    image = sky()
    cover = self_similarity(filled(gl, image, "cover"))
    tiles = self_similarity(filled(gl, image, "tiles", fill_tiles=3.0))
    mirror = self_similarity(filled(gl, image, "mirror", fill_tiles=2.0))
    # The 64 px content itself scores ~0.18 (few pixels); the fills must not add repetition.
    assert cover < 0.3
    assert tiles < 0.3
    assert mirror > 0.9


def test_impulse_osc_arguments():
    from installation.actions import BY_ADDRESS

    action = BY_ADDRESS["/installation/pigment/impulse"]
    assert action.check([0.25, 0.75]) == (0.25, 0.75, 0.5)
    assert action.check([2, -1, 9.0]) == (1.0, 0.0, 4.0)  # clamped into range
    assert action.check([0.5]) is None and action.check(["a", 0.5]) is None and action.check([float("nan"), 0.5]) is None
