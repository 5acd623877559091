"""Filmic tone and colour: the parameters, the numpy reference of shaders/common/tone.glsl, and a standalone GL pass."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import moderngl
import numpy as np

from installation.render.passes import FullscreenPass
from installation.render.shaders import ShaderLibrary

LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)


def live_param(default, lo, hi, doc):
    """A live parameter: its default, range and one line saying what it does (ready for the schema)."""
    return field(default=default, metadata={"range": (lo, hi), "doc": doc})


@dataclass(frozen=True)
class ToneParams:
    """Filmic tone and colour (shaders/common/tone.glsl). Defaults tuned on the Hubble model (issue 13)."""

    exposure: float = live_param(-0.3, -4.0, 4.0, "exposure in stops, before the curve")
    black: float = live_param(0.06, 0.0, 1.0, "black point: brightest-channel value (after exposure) that maps to black; faint fog below it vanishes")
    knee: float = live_param(0.08, 0.002, 1.0, "black knee of the log toe: smaller lifts faint structure more")
    white: float = live_param(1.0, 0.25, 16.0, "brightest-channel value (after exposure) the curve maps to 1 before the shoulder")
    shoulder: float = live_param(0.8, 0.5, 1.0, "where the tanh shoulder starts rolling highlights off (1 = none)")
    saturation: float = live_param(1.6, 0.0, 3.0, "saturation about Rec.709 luma (1 = unchanged)")
    hue: float = live_param(0.0, -0.5, 0.5, "hue rotation about the grey axis, in turns")
    palette: float = live_param(0.4, 0.0, 1.0, "how much the shadow/highlight tints colour the image")
    shadow_r: float = live_param(0.5, 0.0, 2.0, "shadow tint, red")
    shadow_g: float = live_param(0.7, 0.0, 2.0, "shadow tint, green")
    shadow_b: float = live_param(1.6, 0.0, 2.0, "shadow tint, blue")
    highlight_r: float = live_param(1.5, 0.0, 2.0, "highlight tint, red")
    highlight_g: float = live_param(1.0, 0.0, 2.0, "highlight tint, green")
    highlight_b: float = live_param(0.6, 0.0, 2.0, "highlight tint, blue")
    # Auto exposure (the pigment flow only; not part of the Tone struct): a deep-sky walk goes
    # from a black star field to a nebula filling the frame, 3-4 stops brighter on average.
    auto_exposure: float = live_param(0.0, 0.0, 1.0, "how far the exposure follows the dye's mean brightness towards auto_target (0 = fixed exposure, 1 = fully; pigment flow only)")
    auto_target: float = live_param(0.08, 0.005, 0.5, "mean dye luma (after exposure) the auto exposure aims at")
    auto_range: float = live_param(2.0, 0.0, 6.0, "most stops the auto exposure moves the exposure up or down")

    def clamped(self) -> "ToneParams":
        """A copy with every field inside its range."""
        return clamp_params(self)

    def uniforms(self, prefix: str = "tone") -> dict[str, object]:
        """The GLSL `Tone` struct's members as uniform name -> value (auto exposure is the pigment glow pass's)."""
        p = self.clamped()
        return {
            f"{prefix}.exposure": p.exposure,
            f"{prefix}.black": p.black,
            f"{prefix}.knee": p.knee,
            f"{prefix}.white": p.white,
            f"{prefix}.shoulder": p.shoulder,
            f"{prefix}.saturation": p.saturation,
            f"{prefix}.hue": p.hue,
            f"{prefix}.shadow_tint": (p.shadow_r, p.shadow_g, p.shadow_b),
            f"{prefix}.highlight_tint": (p.highlight_r, p.highlight_g, p.highlight_b),
            f"{prefix}.palette": p.palette,
        }


def clamp_params(params):
    """Any of these frozen parameter dataclasses with each field clamped to its metadata range."""
    changes = {}
    for f in fields(params):
        lo, hi = f.metadata["range"]
        value = getattr(params, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        clamped = type(value)(min(max(value, lo), hi))
        if clamped != value:
            changes[f.name] = clamped
    return params.__class__(**{**{f.name: getattr(params, f.name) for f in fields(params)}, **changes}) if changes else params


def params_from(params_cls, values):
    """A parameter dataclass from an object with one attribute per field (a live Frame's section,
    whose values are all floats): integer fields rounded."""
    return params_cls(**{f.name: (int(round(getattr(values, f.name))) if isinstance(f.default, int) else float(getattr(values, f.name)))
                         for f in fields(params_cls)})


def tone_curve(v: np.ndarray, knee: float, white: float, shoulder: float) -> np.ndarray:
    y = np.log1p(np.maximum(v, 0.0) / knee) / np.log1p(white / knee)
    if shoulder < 1.0:
        s = 1.0 - shoulder
        y = np.where(y > shoulder, shoulder + s * np.tanh((y - shoulder) / s), y)
    return y


def rotate_hue(c: np.ndarray, turns: float) -> np.ndarray:
    k = np.full(3, 0.57735026919)
    angle = 2 * np.pi * turns
    cs, sn = np.cos(angle), np.sin(angle)
    return c * cs + np.cross(k, c) * sn + k * (c @ k)[..., None] * (1 - cs)


def gamut_soft_clip(c: np.ndarray) -> np.ndarray:
    lum = np.clip(c @ LUMA_WEIGHTS, 0.0, 1.0)[..., None]
    hi = c.max(axis=-1, keepdims=True)
    lo = c.min(axis=-1, keepdims=True)
    t = np.ones_like(lum)
    t = np.where(hi > 1.0, np.minimum(t, (1.0 - lum) / np.maximum(hi - lum, 1e-6)), t)
    t = np.where(lo < 0.0, np.minimum(t, lum / np.maximum(lum - lo, 1e-6)), t)
    return np.clip(lum + (c - lum) * t, 0.0, 1.0)


def apply_tone(c: np.ndarray, p: ToneParams) -> np.ndarray:
    """The reference: RGB floats [..., 3] (0..1, more allowed) -> toned RGB in [0, 1]."""
    p = p.clamped()
    c = np.maximum(np.asarray(c, dtype=np.float64), 0.0) * 2.0 ** p.exposure
    v = c.max(axis=-1, keepdims=True)
    c = c * tone_curve(v - p.black, p.knee, p.white, p.shoulder) / np.maximum(v, 1e-6)
    lum = (c @ LUMA_WEIGHTS)[..., None]
    c = lum + (c - lum) * p.saturation
    if p.hue != 0.0:
        c = rotate_hue(c, p.hue)
    if p.palette != 0.0:
        x = np.clip(lum / 0.6, 0.0, 1.0)
        s = x * x * (3 - 2 * x)  # smoothstep(0, 0.6, lum)
        tint = np.array([p.shadow_r, p.shadow_g, p.shadow_b]) * (1 - s) + np.array([p.highlight_r, p.highlight_g, p.highlight_b]) * s
        c = c * (1 - p.palette) + c * tint * p.palette
    return gamut_soft_clip(c)


class TonePass(FullscreenPass):
    """shaders/tone.frag: the tone alone, source texture -> destination framebuffer."""

    fragment = "tone.frag"

    def __init__(self, library: ShaderLibrary):
        super().__init__(library)

    def render(self, dst: moderngl.Framebuffer, source: moderngl.Texture, params: ToneParams) -> None:
        self._draw(dst, {"source": source}, **params.uniforms())
