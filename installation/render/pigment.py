"""Pigment flow: GAN frames injected as dye into a live velocity field, advected, lit, bloomed and toned.

One frame (`PigmentFlow.render`), every texture's uv GL-style ((0, 0) bottom-left). On
llvmpipe each texture tap at the dye's size costs ~1 ms a frame (640x360), so the per-pixel
work is done on the small grids and the dye pass keeps to four taps:

    push(content)  (only when a new generator frame arrives)
        pigment_fill.frag: crop the frame's edge rows, fill the fill size (cover / random
        tiles / mirror; common/fill.glsl) -> the newest of two fill textures
    velocity (grid_divisor-times smaller grid, float32, ping-pong)
        pigment_velocity.frag: advect itself, relax towards wind + curl noise + vortices, kick
        with queued impulses; z: the hue field. Optional projection (off by default; it does
        not pay here: the target field is divergence-free already)
    injection (fill size): pigment_inject.frag: the crossfaded fill, hue-turned, times its
        brightness gate, smeared along the frame's path: premultiplied content and mix
    glow (a quarter of the render size, only when bloom is on): pigment_bloom.frag, 4x4 block
        means of the dye so far, its mipmaps, then pigment_glow.frag: near + wide bloom
    dye and picture (render size; one pass, two outputs): pigment_dye.frag: advection,
        optional diffusion, decay + fade to black, the injection mixed in -> the dye (RGBA16F
        ping-pong; alpha = the bright excess); then sheen + glow + filmic tone -> the
        picture (RGBA8)

Velocity is in output heights per second (x measured in heights), y up. Time integrates on
the CPU (phases wrap), so a live change of speed bends the motion instead of jumping it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl
import numpy as np

from installation.render.passes import FullscreenPass, RenderTarget
from installation.render.shaders import ShaderLibrary
from installation.render.tone import ToneParams, clamp_params, live_param

NOISE_Z_PERIOD = 256  # as shaders/common/noise.glsl
MAX_IMPULSES = 8  # as pigment_velocity.frag's impulses[]
MAX_VORTICES = 6  # as pigment_velocity.frag's vortices[]
FILL_MODES = {"cover": 0, "tiles": 1, "mirror": 2}
BLOOM_LEVEL = 2  # the bloom source is the dye's mip level 2 ...
BLOOM_DIVISOR = 2 ** BLOOM_LEVEL  # ... a quarter of its size
REFERENCE_FPS = 60.0  # `inject` is the mix per frame at this rate; other rates get the same mix per second


@dataclass(frozen=True)
class PigmentParams:
    """Every live parameter of the pigment flow. Defaults tuned on the Hubble model for a dark room (issue 13):
    black space, the content's bright points injected and carried off as luminous trails."""

    # content fill (applied when a frame is pushed)
    fill_tiles: float = live_param(10.0, 0.5, 12.0, "random tiles per output height (fill 'tiles') or mirrored copies (fill 'mirror')")
    fill_zoom: float = live_param(0.18, 0.05, 0.35, "content heights each random tile shows (smaller = more magnified, more room to vary)")
    fill_sharpness: float = live_param(2.0, 0.5, 8.0, "how narrow the soft seams between random tiles are")
    fill_border: float = live_param(3.0, 0.0, 8.0, "content pixels cropped off each edge (the generator's edge rows)")
    fill_seed: float = live_param(0.0, 0.0, 1000.0, "seed of the tiles' random rotations and centres")
    # velocity
    speed: float = live_param(0.45, 0.0, 4.0, "overall flow speed multiplier (0 freezes the pigment)")
    wind_x: float = live_param(0.0, -0.5, 0.5, "uniform drift, output heights per second, rightwards")
    wind_y: float = live_param(0.0, -0.5, 0.5, "uniform drift, output heights per second, upwards")
    curl: float = live_param(0.35, 0.0, 1.0, "curl-noise flow speed, output heights per second")
    curl_scale: float = live_param(2.2, 0.2, 8.0, "curl-noise cells per output height (larger = smaller eddies)")
    curl_evolve: float = live_param(0.8, 0.0, 2.0, "how fast the curl noise changes shape, noise cells per second")
    curl_drift: float = live_param(0.4, 0.0, 1.0, "how fast the curl-noise pattern drifts, noise cells per second")
    vortices: int = live_param(4, 0, MAX_VORTICES, "number of drifting point vortices (alternating turn)")
    vortex_speed: float = live_param(0.5, 0.0, 1.0, "vortex peak speed, output heights per second")
    vortex_radius: float = live_param(0.16, 0.02, 1.0, "vortex core radius, output heights")
    vortex_drift: float = live_param(0.3, 0.0, 1.0, "how fast the vortices wander, cycles per second")
    relax: float = live_param(1.5, 0.0, 30.0, "per second: how fast the velocity follows the target field (impulses fade at this rate)")
    self_advect: float = live_param(0.0, 0.0, 1.0, "how far the velocity is carried along itself (momentum; >0 wants the projection on, else shocks)")
    project_iterations: int = live_param(0, 0, 40, "Jacobi pressure iterations of the projection (0 = off)")
    impulse_scale: float = live_param(1.0, 0.0, 4.0, "multiplier on queued impulses' strength")
    hue_spread: float = live_param(0.7, 0.0, 1.0, "turns of hue shift of injected content across a slow noise field (pigments of many colours)")
    hue_scale: float = live_param(0.8, 0.1, 8.0, "hue-field noise cells per output height")
    hue_drift: float = live_param(0.05, 0.0, 1.0, "how fast the hue field drifts and changes, noise cells per second")
    # dye
    inject: float = live_param(0.35, 0.0, 1.0, "mix of the new content into the dye per frame at 60 fps (1 = content only)")
    inject_gate: float = live_param(1.0, 0.0, 1.0, "0: inject everywhere; 1: inject only where the content is bright")
    gate_low: float = live_param(-0.01, -0.5, 1.0, "content luma above the frame's mean where the gated injection starts")
    gate_high: float = live_param(0.25, 0.01, 1.0, "content luma above the frame's mean where the gated injection is full")
    smear: float = live_param(1.0, 0.0, 1.0, "1: inject content averaged along each frame's path (no dotted trails in fast flow)")
    decay: float = live_param(0.8, 0.0, 5.0, "per second: how fast the dye fades (exp(-decay * t))")
    fade: float = live_param(0.05, 0.0, 2.0, "per second: dye value subtracted, so faint dye reaches true black (no fog)")
    diffusion: float = live_param(0.0, -0.6, 1.0, "mix of a 4-tap blur into the dye each frame; negative sharpens; 0 costs nothing")
    # output
    sheen: float = live_param(0.3, 0.0, 1.0, "diffuse relief lighting from the dye's luma normals")
    sheen_height: float = live_param(8.0, 0.0, 40.0, "luma gradient to surface slope")
    glint: float = live_param(0.5, 0.0, 2.0, "specular glints on the relief")
    bloom: float = live_param(2.5, 0.0, 4.0, "bloom on bright points")
    bloom_threshold: float = live_param(0.1, 0.0, 1.0, "dye value above which it blooms")
    bloom_spread: int = live_param(2, 2, 5, "bloom radius: the dye mip level of the near glow (the wide one is 2 levels up)")

    def clamped(self) -> "PigmentParams":
        return clamp_params(self)


def _target(ctx: moderngl.Context, size: tuple[int, int], dtype: str, components: int = 4) -> RenderTarget:
    return RenderTarget(ctx, size, dtype, components)


class _Pass(FullscreenPass):
    def __init__(self, library: ShaderLibrary, fragment: str, defines: tuple[str, ...] = ()):
        self.fragment = fragment
        self.ctx = library.ctx
        self.shader = library.program(fragment, defines=defines)
        self._vao = None
        self._vao_version = -1

    def draw(self, dst: moderngl.Framebuffer, textures: dict, **uniforms) -> None:
        self._draw(dst, textures, **uniforms)


class _Variants:
    """One shader file compiled per set of #defines (the parts switched on), built on first use."""

    def __init__(self, library: ShaderLibrary, fragment: str):
        self.library = library
        self.fragment = fragment
        self._passes: dict[tuple[str, ...], _Pass] = {}

    def draw(self, defines: tuple[str, ...], dst: moderngl.Framebuffer, textures: dict, **uniforms) -> None:
        if defines not in self._passes:
            self._passes[defines] = _Pass(self.library, self.fragment, defines)
        self._passes[defines].draw(dst, textures, **uniforms)

    def release(self) -> None:
        for p in self._passes.values():
            p.release()


def fill_magnification(content_size: tuple[int, int], fill_size: tuple[int, int], mode: str, tiles: float,
                       zoom: float, border: float) -> float:
    """Fill pixels per content pixel (as common/fill.glsl's `fill_sample` maps them): how far
    the fill magnifies the generator's frame."""
    inner_w, inner_h = (max(s - 2.0 * border, 1.0) for s in content_size)
    if mode == "tiles":  # a cell of 1 / tiles output heights shows `zoom` content heights
        heights = tiles * zoom
    elif mode == "mirror":  # `tiles` copies span the height
        heights = tiles
    else:  # cover: the whole frame, its longer side cropped
        heights = min(inner_w / inner_h / (fill_size[0] / fill_size[1]), 1.0)
    return fill_size[1] / (heights * inner_h)


# Above this magnification the fill samples bicubic; below it one bilinear tap (4x cheaper).
BICUBIC_ABOVE = 1.5


class ContentFill:
    """The last two generator frames, each filled to `size` (pigment_fill.frag); swaps on push."""

    def __init__(self, library: ShaderLibrary, size: tuple[int, int], dtype: str = "f1"):
        self.ctx = library.ctx
        self.pass_ = _Variants(library, "pigment_fill.frag")
        self.previous = _target(self.ctx, size, dtype)
        self.newest = _target(self.ctx, size, dtype)
        for t in (self.previous, self.newest):
            t.clear()
            # Mipmapped: the dye pass reads the last level (the frame's mean) for its gate.
            t.texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            t.texture.build_mipmaps()

    def push(self, content: moderngl.Texture, params: PigmentParams, mode: str = "tiles") -> None:
        """Fill `content` (a texture, uv bottom-left) into the newest slot; the old newest becomes previous."""
        if mode not in FILL_MODES:
            raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}; got {mode!r}")
        self.previous, self.newest = self.newest, self.previous
        p = params.clamped()
        filt = content.filter
        content.filter = (moderngl.LINEAR, moderngl.LINEAR)  # the bicubic's taps are bilinear
        magnification = fill_magnification(content.size, self.newest.size, mode, p.fill_tiles, p.fill_zoom, p.fill_border)
        variant = () if magnification > BICUBIC_ABOVE else ("FILL_BILINEAR",)
        self.pass_.draw(variant, self.newest.framebuffer, {"content": content}, fill_mode=FILL_MODES[mode],
                        tiles=p.fill_tiles, border=p.fill_border, zoom=p.fill_zoom,
                        sharpness=p.fill_sharpness, seed=float(int(p.fill_seed)))
        self.newest.texture.build_mipmaps()
        content.filter = filt

    def release(self) -> None:
        self.pass_.release()
        self.previous.release()
        self.newest.release()


class VelocityField:
    """The live velocity on a reduced grid (float32 ping-pong), with optional pressure projection."""

    def __init__(self, library: ShaderLibrary, grid: tuple[int, int]):
        self.ctx = library.ctx
        self.grid = grid
        self.aspect = grid[0] / grid[1]
        self.step_pass = _Pass(library, "pigment_velocity.frag")
        self.divergence_pass = _Pass(library, "pigment_divergence.frag")
        self.pressure_pass = _Pass(library, "pigment_pressure.frag")
        self.project_pass = _Pass(library, "pigment_project.frag")
        self._v = [_target(self.ctx, grid, "f4") for _ in range(2)]
        self._p = [_target(self.ctx, grid, "f4") for _ in range(2)]
        self._div = _target(self.ctx, grid, "f4")
        for t in (*self._v, *self._p, self._div):
            t.framebuffer.clear(0.0, 0.0, 0.0, 0.0)
        self.curl_phase = 0.0
        self.curl_offset = np.zeros(2)
        self.vortex_time = 0.0
        self.hue_offset = np.array([0.0, 0.0, 17.0])

    @property
    def texture(self) -> moderngl.Texture:
        return self._v[0].texture

    def vortex_uniforms(self, p: PigmentParams) -> list[tuple[float, float, float, float]]:
        """(x uv, y uv, signed peak speed, radius) for each vortex: Lissajous paths with
        incommensurate rates, so they wander without repeating; signs alternate."""
        out = []
        for k in range(int(p.vortices)):
            a = self.vortex_time * 2 * math.pi
            x = 0.5 + 0.38 * math.sin(a * (0.61 + 0.17 * k) + 1.7 * k)
            y = 0.5 + 0.36 * math.sin(a * (0.43 + 0.11 * k) + 2.9 * k + 0.5)
            sign = 1.0 if k % 2 == 0 else -1.0
            out.append((x, y, sign * p.vortex_speed, p.vortex_radius))
        return out

    def step(self, dt: float, p: PigmentParams, impulses: list[tuple[float, float, float, float]]) -> None:
        self.curl_phase = (self.curl_phase + p.curl_evolve * dt) % NOISE_Z_PERIOD
        # Drift along a slowly turning direction; wrapped so float32 keeps its precision.
        heading = 0.37 * self.vortex_time * 2 * math.pi
        self.curl_offset = (self.curl_offset + p.curl_drift * dt * np.array([math.cos(heading), math.sin(heading)])) % 1024.0
        self.vortex_time = (self.vortex_time + p.vortex_drift * dt) % 10000.0
        self.hue_offset = (self.hue_offset + p.hue_drift * dt * np.array([0.6, -0.3, 0.5])) % np.array([1024.0, 1024.0, NOISE_Z_PERIOD])
        vortices = self.vortex_uniforms(p) + [(0.0, 0.0, 0.0, 1.0)] * (MAX_VORTICES - int(p.vortices))
        imps = [(x, y, s * p.impulse_scale, max(r, 1e-3)) for x, y, s, r in impulses[:MAX_IMPULSES]]
        count = len(imps)
        imps += [(0.0, 0.0, 0.0, 1.0)] * (MAX_IMPULSES - count)
        src, dst = self._v
        self.step_pass.draw(
            dst.framebuffer, {"previous_velocity": src.texture},
            dt=dt, self_advect=p.self_advect, relax_alpha=1.0 - math.exp(-p.relax * dt), wind=(p.wind_x, p.wind_y),
            curl_speed=p.curl, curl_scale=p.curl_scale, curl_phase=self.curl_phase,
            curl_offset=tuple(self.curl_offset), vortex_count=int(p.vortices),
            vortices=vortices, impulse_count=count,
            impulses=imps, hue_scale=p.hue_scale, hue_offset=tuple(self.hue_offset),
        )
        self._v = [dst, src]
        if p.project_iterations > 0:
            self.project(int(p.project_iterations))

    def project(self, iterations: int) -> None:
        """Make the velocity (nearly) divergence-free: divergence, Jacobi pressure, subtract gradient."""
        self.divergence_pass.draw(self._div.framebuffer, {"velocity": self._v[0].texture})
        self._p[0].framebuffer.clear(0.0, 0.0, 0.0, 0.0)  # start from 0: no stale pressure to drift
        for _ in range(iterations):
            src, dst = self._p
            self.pressure_pass.draw(dst.framebuffer, {"pressure": src.texture, "divergence": self._div.texture})
            self._p = [dst, src]
        src, dst = self._v
        self.project_pass.draw(dst.framebuffer, {"velocity": src.texture, "pressure": self._p[0].texture})
        self._v = [dst, src]

    def read(self) -> np.ndarray:
        """The velocity [h, w, 2] float32, row 0 = bottom (GL order), heights per second."""
        data = self._v[0].texture.read()
        return np.frombuffer(data, np.float32).reshape(self.grid[1], self.grid[0], 4)[..., :2].copy()

    def release(self) -> None:
        for t in (*self._v, *self._p, self._div):
            t.release()
        for s in (self.step_pass, self.divergence_pass, self.pressure_pass, self.project_pass):
            s.release()


class PigmentFlow:
    """The whole pigment stage at a fixed size. Per frame: `push(content)` when a new generator
    frame arrives, `impulse(...)` whenever, `render(dt, params, tone, content_mix)` once.

    size: the dye's and the toned output's size (the chain's work size; its present pass
    upscales). fill: 'tiles', 'cover' or 'mirror'.
    fill_divisor: the filled content is size / fill_divisor (it is smooth: 4 keeps a 64 px frame at
    about 1-2 fill pixels per content pixel in "tiles", and costs a sixteenth of the full size).
    grid_divisor: the velocity grid is size / grid_divisor."""

    def __init__(self, library: ShaderLibrary, size: tuple[int, int], fill: str = "tiles",
                 fill_divisor: int = 4, grid_divisor: int = 8, dye_dtype: str = "f2"):
        if fill not in FILL_MODES:
            raise ValueError(f"fill must be one of {', '.join(FILL_MODES)}; got {fill!r}")
        self.ctx = library.ctx
        self.size = (int(size[0]), int(size[1]))
        self.aspect = self.size[0] / self.size[1]
        self.fill_mode = fill
        small = lambda d: (max(2, round(self.size[0] / d)), max(2, round(self.size[1] / d)))  # noqa: E731
        self.fill = ContentFill(library, small(fill_divisor))
        self.velocity = VelocityField(library, small(grid_divisor))
        # Premultiplied, so float: a faint mix times a faint colour would vanish in 8 bits.
        self.inject = _target(self.ctx, self.fill.newest.size, "f2")
        self._dye = [_target(self.ctx, self.size, dye_dtype) for _ in range(2)]
        for t in self._dye:
            t.clear()
        self.bloom_source = _target(self.ctx, small(BLOOM_DIVISOR), dye_dtype)
        self.bloom_source.clear()
        self.bloom_source.texture.filter = (moderngl.LINEAR_MIPMAP_NEAREST, moderngl.LINEAR)  # whole levels
        self.bloom_source.texture.build_mipmaps()
        self._mean_lod = int(math.floor(math.log2(max(self.bloom_source.size))))  # its 1x1 level
        self.glow = _target(self.ctx, self.bloom_source.size, dye_dtype)
        self.glow.clear()
        self.output = _target(self.ctx, self.size, "f1")
        self.inject_pass = _Variants(library, "pigment_inject.frag")
        self.dye_pass = _Variants(library, "pigment_dye.frag")
        self.bloom_pass = _Pass(library, "pigment_bloom.frag")
        self.glow_pass = _Pass(library, "pigment_glow.frag")
        # The dye pass draws the new dye and the picture at once: one framebuffer per
        # (dye texture, picture texture) pair it has drawn into.
        self._framebuffers: dict[tuple[int, int], moderngl.Framebuffer] = {}
        self._impulses: list[tuple[float, float, float, float]] = []
        self._pushed = False

    # --- inputs ----------------------------------------------------------------------------

    def push(self, content: moderngl.Texture, params: PigmentParams) -> None:
        """A new generator frame (texture, uv bottom-left): fill it into the newest slot."""
        self.fill.push(content, params, self.fill_mode)
        if not self._pushed:  # the first frame: both slots, so the crossfade starts from it
            self.fill.push(content, params, self.fill_mode)
            self._pushed = True

    def impulse(self, x: float, y: float, strength: float, radius: float = 0.15) -> None:
        """Queue an outward push at uv (x, y) (GL: (0, 0) bottom-left) of peak `strength` output
        heights per second over `radius` heights; applied on the next render (at most 8 a frame)."""
        if len(self._impulses) < MAX_IMPULSES:
            self._impulses.append((float(x), float(y), float(strength), float(radius)))

    # --- the frame -------------------------------------------------------------------------

    @property
    def dye(self) -> moderngl.Texture:
        return self._dye[0].texture

    def _dye_and_picture(self, dye: moderngl.Texture, picture: moderngl.Texture) -> moderngl.Framebuffer:
        key = (dye.glo, picture.glo)
        if key not in self._framebuffers:
            if picture.size != self.size:
                raise ValueError(f"the pigment draws at its size {self.size}; got a target of {picture.size}")
            self._framebuffers[key] = self.ctx.framebuffer(color_attachments=[dye, picture])
        return self._framebuffers[key]

    def render(self, dt: float, params: PigmentParams, tone: ToneParams | None = None,
               content_mix: float = 1.0, into: moderngl.Texture | None = None) -> moderngl.Texture:
        """Advance the flow by dt seconds and draw the toned picture (RGBA8, the pigment's size)
        into `into` (e.g. the chain's own output: no copy) or into its own texture; returns it."""
        p = params.clamped()
        tone = tone or ToneParams()
        dt = min(max(float(dt), 0.0), 0.1)  # a stall must not throw the dye across the screen
        self.velocity.step(dt, p, self._impulses)
        self._impulses = []
        frames = dt * REFERENCE_FPS
        inject_alpha = 1.0 - (1.0 - p.inject) ** frames if p.inject < 1.0 else 1.0
        inject_parts = tuple(name for name, on in (("HUE", p.hue_spread != 0.0), ("SMEAR", p.smear > 0.0)) if on)
        self.inject_pass.draw(
            inject_parts, self.inject.framebuffer,
            {"fill_previous": self.fill.previous.texture, "fill_newest": self.fill.newest.texture,
             "velocity": self.velocity.texture},
            content_mix=float(min(max(content_mix, 0.0), 1.0)), inject_alpha=inject_alpha,
            inject_gate=p.inject_gate, gate_range=(p.gate_low, max(p.gate_high, p.gate_low + 1e-3)),
            hue_spread=p.hue_spread, smear=p.smear, dt_speed=dt * p.speed,
        )
        src, dst = self._dye
        tone = tone.clamped()
        auto = tone.auto_exposure > 0.0 and tone.auto_range > 0.0
        glow_on = p.bloom > 0.0 or auto
        if glow_on:  # the glow of the dye so far (a frame late: it is wide, that does not show)
            near = int(p.bloom_spread) - BLOOM_LEVEL  # the source's level 0 is the dye's level 2
            self.bloom_pass.draw(self.bloom_source.framebuffer, {"dye": src.texture})
            # The auto exposure reads the last level (the dye's mean): the whole chain, which at
            # a sixteenth of the pixels costs little more than the bloom's levels.
            self.bloom_source.texture.build_mipmaps(0, self._mean_lod if auto else near + 2)
            self.glow_pass.draw(self.glow.framebuffer, {"bloom_source": self.bloom_source.texture},
                                bloom_lods=(float(near), near + 2.0), mean_lod=float(self._mean_lod),
                                exposure=tone.exposure,
                                auto_exposure=(tone.auto_exposure if auto else 0.0, tone.auto_target, tone.auto_range))
        picture = into if into is not None else self.output.texture
        parts = tuple(name for name, on in (("DIFFUSION", p.diffusion != 0.0),
                                            ("SHEEN", p.sheen != 0.0 or p.glint != 0.0),
                                            ("BLOOM", glow_on)) if on)
        self.dye_pass.draw(
            parts, self._dye_and_picture(dst.texture, picture),
            {"previous_dye": src.texture, "velocity": self.velocity.texture, "inject": self.inject.texture,
             "glow": self.glow.texture},
            dt_speed=dt * p.speed, diffusion=p.diffusion, decay_factor=math.exp(-p.decay * dt), fade=p.fade * dt,
            bloom_threshold=p.bloom_threshold, sheen=p.sheen, sheen_height=p.sheen_height, glint=p.glint,
            bloom=p.bloom, **tone.uniforms(),
        )
        self._dye = [dst, src]
        return picture

    def read_dye(self) -> np.ndarray:
        """The dye [h, w, 3] float32, row 0 = bottom (GL order)."""
        data = self.dye.read()
        return np.frombuffer(data, np.float16).reshape(self.size[1], self.size[0], 4)[..., :3].astype(np.float32)

    def release(self) -> None:
        self.fill.release()
        self.velocity.release()
        for fb in self._framebuffers.values():
            fb.release()
        for t in (self.inject, *self._dye, self.bloom_source, self.glow, self.output):
            t.release()
        for s in (self.inject_pass, self.dye_pass, self.bloom_pass, self.glow_pass):
            s.release()
