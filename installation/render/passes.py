"""The shader passes: small classes with __init__, render(), release().

Each pass is one fragment shader in shaders/ drawn as a single fullscreen triangle (no
vertex buffer, 3 vertices from gl_VertexID) into a destination framebuffer. Coordinates
follow GL: uv (0, 0) is the bottom-left of the image (see installation/render/window.py
for where numpy images are flipped). Textures sample linearly with clamp-to-edge; the warps
mirror their coordinates in the shader so edges reflect instead of smearing.
"""

from __future__ import annotations

import math

import moderngl
import numpy as np

from installation.render.shaders import ShaderLibrary, set_uniform

# The noise lattice repeats every this many units along z (shaders/common/noise.glsl),
# so the flow phase can wrap there without a visible jump.
NOISE_Z_PERIOD = 256.0


class RenderTarget:
    """A colour texture and the framebuffer that draws into it."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], dtype: str = "f1", components: int = 4):
        self.size = (int(size[0]), int(size[1]))
        self.texture = ctx.texture(self.size, components, dtype=dtype)
        configure_texture(self.texture)
        self.framebuffer = ctx.framebuffer(color_attachments=[self.texture])

    def clear(self) -> None:
        self.framebuffer.clear(0.0, 0.0, 0.0, 1.0)

    def release(self) -> None:
        self.framebuffer.release()
        self.texture.release()


def configure_texture(texture: moderngl.Texture) -> None:
    """Linear filtering, clamp-to-edge: the sampling every pass expects."""
    texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
    texture.repeat_x = False
    texture.repeat_y = False


class FullscreenPass:
    """Draws one fragment shader over a whole destination framebuffer."""

    fragment = ""  # file under shaders/, set by subclasses

    def __init__(self, library: ShaderLibrary):
        self.ctx = library.ctx
        self.shader = library.program(self.fragment)
        self._vao: moderngl.VertexArray | None = None
        self._vao_version = -1

    def _draw(self, dst: moderngl.Framebuffer, textures: dict[str, moderngl.Texture], **uniforms) -> None:
        program = self.shader.program
        if self._vao is None or self._vao_version != self.shader.version:
            # A hot reload swaps the program; the VAO belongs to the old one.
            if self._vao is not None:
                self._vao.release()
            self._vao = self.ctx.vertex_array(program, [])
            self._vao_version = self.shader.version
        dst.use()
        for unit, (name, texture) in enumerate(textures.items()):
            texture.use(location=unit)
            set_uniform(program, name, unit)
        width, height = dst.size
        set_uniform(program, "aspect", width / height)
        for name, value in uniforms.items():
            set_uniform(program, name, value)
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        if self._vao is not None:
            self._vao.release()
            self._vao = None


def crossfade_uniforms(content_mix: float, previous_scale, newest_scale) -> dict:
    """Uniforms of the content crossfade, shared by every pass that draws it."""
    return {
        "content_mix": float(min(max(content_mix, 0.0), 1.0)),
        "previous_scale": tuple(previous_scale),
        "newest_scale": tuple(newest_scale),
    }


# Uniform names follow the schema's field names (warp.swirl -> `swirl`, warp.flow -> `flow`).
def swirl_uniforms(strength: float, radius: float, centre: tuple[float, float], phase: float) -> dict:
    return {
        "swirl": float(strength),
        "swirl_radius": max(float(radius), 1e-4),
        "swirl_centre": (float(centre[0]), float(centre[1])),
        "swirl_phase": float(phase),
    }


def flow_uniforms(strength: float, scale: float, phase: float) -> dict:
    return {"flow": float(strength), "flow_scale": float(scale), "flow_phase": float(phase)}


def swirl_of(warp, phase: float) -> dict:
    """swirl_uniforms' arguments from the frame's warp section."""
    return dict(strength=warp.swirl, radius=warp.swirl_radius, centre=(warp.swirl_x, warp.swirl_y), phase=phase)


class ContentPass(FullscreenPass):
    """Crossfade, swirl and flow in one draw (the reference chain): the same formulas as the
    separate passes in tests/reference_passes.py, but the content is sampled once, at the composed
    coordinate. On a software rasteriser that saves two full-screen passes; on any
    renderer it saves two rounds of bilinear blur."""

    fragment = "content.frag"

    def render(
        self,
        dst: moderngl.Framebuffer,
        previous: moderngl.Texture,
        newest: moderngl.Texture,
        content_mix: float,
        previous_scale: tuple[float, float],
        newest_scale: tuple[float, float],
        swirl: dict,
        flow: dict,
    ) -> None:
        """swirl: kwargs of swirl_uniforms (strength, radius, centre, phase);
        flow: kwargs of flow_uniforms (strength, scale, phase)."""
        self._draw(
            dst,
            {"previous_frame": previous, "newest_frame": newest},
            **crossfade_uniforms(content_mix, previous_scale, newest_scale),
            **swirl_uniforms(**swirl),
            **flow_uniforms(**flow),
        )


class FeedbackPass(FullscreenPass):
    """out = mix(new, previous_out transformed, amount), where the previous output is
    sampled zoomed by `zoom` and rotated by `rotate` radians about the centre (aspect-
    correct, mirrored at the edges). Owns two ping-pong targets; the history starts black,
    so a show fades in over the first frames."""

    fragment = "feedback.frag"

    def __init__(self, library: ShaderLibrary, size: tuple[int, int], dtype: str = "f2"):
        super().__init__(library)
        self._targets = [RenderTarget(self.ctx, size, dtype), RenderTarget(self.ctx, size, dtype)]
        self._current = 0
        self.reset()

    @property
    def output(self) -> moderngl.Texture:
        """The most recent result."""
        return self._targets[self._current].texture

    def reset(self) -> None:
        """Forget the history (back to black)."""
        for target in self._targets:
            target.clear()

    def render(self, new: moderngl.Texture, amount: float, zoom: float, rotate: float) -> moderngl.Texture:
        previous = self._targets[self._current]
        nxt = self._targets[1 - self._current]
        self._draw(
            nxt.framebuffer,
            {"new_frame": new, "previous_output": previous.texture},
            amount=float(amount),
            zoom=max(float(zoom), 1e-3),
            rotate=float(rotate),
        )
        self._current = 1 - self._current
        return nxt.texture

    def release(self) -> None:
        super().release()
        for target in self._targets:
            target.release()
        self._targets = []


# The flow field's texture covers the image plus this much uv on every side (the RK2
# midpoint may look past an edge), and has 1 texel per FLOW_FIELD_DIVISOR pixels of the
# target it warps (at least FLOW_FIELD_MIN_TEXELS on the short side). At the default
# flow_scale (~3 noise cells per image height) that is ~60 texels per cell.
FLOW_FIELD_MARGIN = 1.0 / 16.0
FLOW_FIELD_DIVISOR = 4
FLOW_FIELD_MIN_TEXELS = 32


def flow_field_size(target: tuple[int, int]) -> tuple[int, int]:
    """Texture size of the flow field for a target of `target` (width, height) pixels."""
    w, h = target
    scale = max(1.0 / FLOW_FIELD_DIVISOR, min(1.0, FLOW_FIELD_MIN_TEXELS / min(w, h)))
    grow = 1.0 + 2.0 * FLOW_FIELD_MARGIN
    return max(2, round(w * scale * grow)), max(2, round(h * scale * grow))


class FlowFieldPass(FullscreenPass):
    """The curl-noise velocity (flow_uniforms' field, in uv per unit strength) drawn into a small
    float texture once per frame; `WarpFeedbackPass` looks it up instead of evaluating the
    noise per pixel. Owns its texture."""

    fragment = "flow_field.frag"

    def __init__(self, library: ShaderLibrary, target: tuple[int, int], dtype: str = "f4"):
        super().__init__(library)
        self.image_aspect = target[0] / target[1]
        self.field = RenderTarget(self.ctx, flow_field_size(target), dtype)

    @property
    def texture(self) -> moderngl.Texture:
        return self.field.texture

    def render(self, scale: float, phase: float) -> moderngl.Texture:
        self._draw(
            self.field.framebuffer,
            {},
            flow_scale=float(scale),
            flow_phase=float(phase),
            image_aspect=self.image_aspect,
            field_margin=FLOW_FIELD_MARGIN,
        )
        return self.field.texture

    def release(self) -> None:
        super().release()
        self.field.release()


class WarpFeedbackPass(FeedbackPass):
    """ContentPass and FeedbackPass in one draw (what the live chain uses), with the flow
    velocity from a `FlowFieldPass` texture: out = mix(content at the warped uv,
    previous_out zoomed and rotated, amount). Owns the ping-pong history like FeedbackPass.
    Matches ContentPass -> FeedbackPass up to the field's interpolation and the 8-bit
    intermediate the two-pass version writes (tests/test_render_passes.py)."""

    fragment = "warp_feedback.frag"

    def render(  # type: ignore[override]
        self,
        previous: moderngl.Texture,
        newest: moderngl.Texture,
        content_mix: float,
        previous_scale: tuple[float, float],
        newest_scale: tuple[float, float],
        warp,
        feedback,
        swirl_phase: float,
        flow_field: moderngl.Texture,
    ) -> moderngl.Texture:
        """warp, feedback: the frame's sections (config.Frame); flow_field: FlowFieldPass.render()'s texture."""
        history = self._targets[self._current]
        nxt = self._targets[1 - self._current]
        zoom = max(float(feedback.zoom), 1e-3)
        self._draw(
            nxt.framebuffer,
            {
                "previous_frame": previous,
                "newest_frame": newest,
                "flow_field": flow_field,
                "previous_output": history.texture,
            },
            **crossfade_uniforms(content_mix, previous_scale, newest_scale),
            **swirl_uniforms(**swirl_of(warp, swirl_phase)),
            flow=float(warp.flow),
            field_margin=FLOW_FIELD_MARGIN,
            amount=float(feedback.amount),
            feedback_turn=(math.cos(-float(feedback.rotate)) / zoom, math.sin(-float(feedback.rotate)) / zoom),
        )
        self._current = 1 - self._current
        return nxt.texture


LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)  # Rec. 709, as shaders/common/color.glsl


def grade_affine(exposure: float, contrast: float, saturation: float, hue: float) -> tuple[tuple, tuple]:
    """Exposure -> contrast -> saturation -> hue rotation as one affine map c -> M c + b.

    Returns (M column-major as 9 floats, for a GLSL mat3; b as 3 floats). The formulas are
    those of shaders/common/color.glsl (luma, rotate_hue) and the steps of grade.frag."""
    gain = 2.0 ** float(exposure) * float(contrast)  # c -> gain c + (0.5 - 0.5 contrast)
    shift = 0.5 - 0.5 * float(contrast)
    luma = np.array(LUMA_WEIGHTS)
    sat = float(saturation) * np.eye(3) + (1.0 - float(saturation)) * np.outer(np.ones(3), luma)
    k = np.full(3, 1.0 / math.sqrt(3.0))
    angle = 2.0 * math.pi * float(hue)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])  # k x c
    rot = math.cos(angle) * np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * np.outer(k, k)
    hs = rot @ sat
    matrix = hs * gain
    offset = hs @ np.full(3, shift)
    return tuple(float(x) for x in matrix.T.reshape(-1)), tuple(float(x) for x in offset)


class GradePass(FullscreenPass):
    """Exposure (stops), contrast about 0.5, saturation, hue rotation (turns), clamp,
    gamma (c ** (1 / gamma)), vignette (c *= 1 - vignette * d^2, d = 0 centre .. 1 corner).
    The four affine steps go to the shader as one matrix (grade_affine)."""

    fragment = "grade.frag"

    def render(
        self,
        dst: moderngl.Framebuffer,
        src: moderngl.Texture,
        exposure: float = 0.0,
        contrast: float = 1.0,
        saturation: float = 1.0,
        hue: float = 0.0,
        gamma: float = 1.0,
        vignette: float = 0.0,
    ) -> None:
        matrix, offset = grade_affine(exposure, contrast, saturation, hue)
        width, height = dst.size
        aspect = width / height
        gamma = max(float(gamma), 1e-3)
        self._draw(
            dst,
            {"source": src},
            grade_matrix=matrix,
            grade_offset=offset,
            inv_gamma=1.0 / gamma,
            vignette_scale=float(vignette) / (0.25 * aspect * aspect + 0.25),
            # The per-step values too, for a custom grade.frag written against them.
            exposure=float(exposure),
            contrast=float(contrast),
            saturation=float(saturation),
            hue=float(hue),
            gamma=gamma,
            vignette=float(vignette),
        )


class PresentPass(FullscreenPass):
    """Copies a finished frame into a window's (letterboxed) viewport."""

    fragment = "present.frag"

    def render(self, dst: moderngl.Framebuffer, frame: moderngl.Texture) -> None:
        self._draw(dst, {"frame": frame})


FITS = ("cover", "stretch", "tile")


def fit_scale(content: tuple[int, int], output: tuple[int, int], fit: str, tiles: float = 1.0) -> tuple[float, float]:
    """uv scale about the centre that maps an output pixel to a content pixel.

    'stretch': (1, 1), content fills the output, distorted if aspects differ.
    'cover': keep the content's aspect and fill the output, cropping the longer side.
    'tile': keep the content's aspect, `tiles` mirrored copies span the output's height
    (the content shaders mirror coordinates past an edge), so a small model's frame is
    magnified less and its seams meet their own reflection.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}; got {fit!r}")
    if fit == "stretch":
        return 1.0, 1.0
    content_aspect = content[0] / content[1]
    output_aspect = output[0] / output[1]
    if fit == "tile":
        if not tiles > 0:
            raise ValueError(f"tiles must be > 0, got {tiles!r}")
        return float(tiles) * output_aspect / content_aspect, float(tiles)
    if content_aspect > output_aspect:  # content wider: crop left and right
        return output_aspect / content_aspect, 1.0
    return 1.0, content_aspect / output_aspect
