"""The separate crossfade, swirl and flow passes: references for the composed passes the show
runs (ContentPass, WarpFeedbackPass). Their shaders are in tests/reference_shaders/."""

from __future__ import annotations

import shutil
from pathlib import Path

import moderngl

from installation.render.passes import FullscreenPass, crossfade_uniforms, flow_uniforms, swirl_uniforms
from installation.render.shaders import DEFAULT_SHADER_DIR

REFERENCE_SHADERS = Path(__file__).resolve().parent / "reference_shaders"


def shader_dir_with_references(folder: Path) -> Path:
    """A copy of the shipped shaders/ plus the reference passes' shaders, in `folder`."""
    root = Path(shutil.copytree(DEFAULT_SHADER_DIR, Path(folder) / "shaders"))
    for frag in REFERENCE_SHADERS.glob("*.frag"):
        shutil.copy(frag, root / frag.name)
    return root


class CrossfadePass(FullscreenPass):
    """out = mix(previous, newest, content_mix); each input scaled about the centre by its
    own uv scale (1, 1 = stretched to the output; see `fit_scale`)."""

    fragment = "crossfade.frag"

    def render(
        self,
        dst: moderngl.Framebuffer,
        previous: moderngl.Texture,
        newest: moderngl.Texture,
        content_mix: float,
        previous_scale: tuple[float, float] = (1.0, 1.0),
        newest_scale: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self._draw(
            dst,
            {"previous_frame": previous, "newest_frame": newest},
            **crossfade_uniforms(content_mix, previous_scale, newest_scale),
        )


class SwirlPass(FullscreenPass):
    """Rotate the sampling point about `centre` (uv, y up) by
    strength * (1 - smoothstep(0, 1, r / radius)) * cos(2 pi phase), r in image heights."""

    fragment = "swirl.frag"

    def render(
        self,
        dst: moderngl.Framebuffer,
        src: moderngl.Texture,
        strength: float,
        radius: float,
        centre: tuple[float, float],
        phase: float,
    ) -> None:
        self._draw(dst, {"source": src}, **swirl_uniforms(strength, radius, centre, phase))


class FlowPass(FullscreenPass):
    """Backward advection along a curl-noise field: the field is the curl of 3D gradient
    noise at (x * scale, y * scale, phase) in image-height units; displacement = strength."""

    fragment = "flow.frag"

    def render(
        self,
        dst: moderngl.Framebuffer,
        src: moderngl.Texture,
        strength: float,
        scale: float,
        phase: float,
    ) -> None:
        self._draw(dst, {"source": src}, **flow_uniforms(strength, scale, phase))
