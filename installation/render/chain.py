"""The composed shader chain: content frames in, one finished texture out.

Live chain (what shows and renders use; "fused"), 3 draws a frame at render_scale 1:

    flow field (small texture) -> content (previous, newest) + swirl + flow + feedback
    (one draw, into the feedback history, at the internal size) -> grade (output size)

`render_scale` < 1 runs the warp/feedback draw and the grade (or the pigment flow) at that
fraction of the output size, then one plain bilinear draw upscales the finished frame to the
output (4 draws, 1 of them full size). Content frames are a few hundred pixels, so 0.5 loses
little; it is the biggest lever on a software rasteriser (measured in `installation bench`).
The upscale runs only for a frame someone reads back (recording, video outputs, on_frame:
`render(full_size=True)`, `output`, `read_rgba`): otherwise render(full_size=False) hands the
window the work-size frame, and the window's own draw to the screen scales it. A window the
show's size would only have copied the upscaled frame (a blit), so that saves a full-size pass
(~2 ms a frame at 720p in a glfw window on llvmpipe; ~3 ms fullscreen at 1080p).

Reference chain (fused=False, or a shader folder without warp_feedback.frag /
flow_field.frag), as it was before issue 8; tests compare the two:

    content (previous, newest) -> crossfade + swirl + flow -> feedback -> grade -> output
                                  (one draw: ContentPass)

Crossfade and the two warps are coordinate work on the content, so they run as one draw
(ContentPass, the same formulas as the separate passes in tests/reference_passes.py); that is 3
full-screen passes a frame instead of 5, which matters on a software rasteriser. Feedback
then mixes the warped frame with its own zoomed and rotated history, so the trails flow;
grade comes last so it never compounds in the feedback loop. Render size is fixed at
construction; windows scale the output to fit.

Time: the swirl's oscillation and the flow field's evolution use phases integrated from t
(phase += speed * dt), so a live speed change bends the motion instead of jumping it.
"""

from __future__ import annotations

import math
from pathlib import Path

import moderngl
import numpy as np

from installation.live import Frame
from installation.render.passes import (
    NOISE_Z_PERIOD,
    ContentPass,
    FeedbackPass,
    FlowFieldPass,
    GradePass,
    PresentPass,
    RenderTarget,
    WarpFeedbackPass,
    configure_texture,
    fit_scale,
    swirl_of,
)
from installation.render.pigment import PigmentFlow, PigmentParams
from installation.render.shaders import DEFAULT_SHADER_DIR, ShaderLibrary
from installation.render.tone import ToneParams, params_from
from installation.render.window import read_rgba, write_image

# Texture formats, measured on llvmpipe (A/B of the chain with f1 and f2 targets):
# RGBA8 ("f1") and float16 ("f2") targets cost about the same there (f1 ~3% faster), so the
# warped content (8-bit anyway) is RGBA8, and the feedback history is float16 so it decays
# to black instead of sticking a few 8-bit steps above it. The output is RGBA8.
WORK_DTYPE = "f1"
FEEDBACK_DTYPE = "f2"
# show.fit -> the pigment flow's fill (common/fill.glsl); the warp path reads 'tiles' as 'cover'.
PIGMENT_FILLS = {"tiles": "tiles", "cover": "cover", "stretch": "cover", "tile": "mirror"}


def default_params() -> dict[str, float]:
    """The schema's defaults for every live parameter, keyed 'section.name'."""
    return dict(Frame.defaults().items())


class _Content:
    """One content frame as a texture, reused while the frame size stays the same."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.texture = self._make((1, 1), 3)  # black until the first push

    def _make(self, size: tuple[int, int], components: int) -> moderngl.Texture:
        texture = self.ctx.texture(size, components, dtype="f1")
        configure_texture(texture)
        return texture

    def write(self, frame: np.ndarray) -> None:
        size = (frame.shape[1], frame.shape[0])
        if self.texture.size != size or self.texture.components != frame.shape[2]:
            self.texture.release()
            self.texture = self._make(size, frame.shape[2])
        write_image(self.texture, frame)

    def release(self) -> None:
        self.texture.release()


class ShaderChain:
    """Crossfade, swirl, flow, feedback and grade at a fixed render size.

    fit: how content frames of another aspect fill the output, 'cover' (crop, default),
    'stretch', or 'tile' (`tiles` mirrored copies span the height). render_scale: the
    warp/feedback draw's size as a fraction of the output (0.25..1). fused: the live
    3-draw chain (default) or the reference passes.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int,
        height: int,
        shader_dir: Path = DEFAULT_SHADER_DIR,
        fit: str = "cover",
        tiles: float = 1.0,
        work_dtype: str = WORK_DTYPE,
        render_scale: float = 1.0,
        fused: bool = True,
        pigment: bool = False,
    ):
        self.ctx = ctx
        self.size = (int(width), int(height))
        if fit not in PIGMENT_FILLS:
            raise ValueError(f"fit must be one of {', '.join(PIGMENT_FILLS)}; got {fit!r}")
        self.fill = PIGMENT_FILLS[fit]
        self.fit = "cover" if fit == "tiles" else fit
        self.tiles = float(tiles)
        fit_scale((1, 1), self.size, self.fit, self.tiles)  # validates `fit` before any GL work
        if not 0.25 <= float(render_scale) <= 1.0:
            raise ValueError(f"render_scale must be in [0.25, 1], got {render_scale!r}")
        self.render_scale = float(render_scale)
        self.work_size = (max(1, round(width * render_scale)), max(1, round(height * render_scale)))
        # Every program compiles here, so a broken shader fails before the first frame.
        self.library = ShaderLibrary(ctx, shader_dir)
        # A custom shader folder made before the fused passes existed runs the reference chain.
        self.fused = fused and all((self.library.root / f).is_file() for f in ("warp_feedback.frag", "flow_field.frag"))
        self.grade = GradePass(self.library)
        self._output = RenderTarget(ctx, self.size, "f1")
        # render_scale < 1: grade at the work size too (into RGBA8), then one plain bilinear
        # draw upscales the graded frame to the output. On llvmpipe a draw costs mostly per
        # pixel, whatever the shader, so a small grade plus a full-size copy beats a full-size
        # grade (1280x720 at scale 0.5: ~15% less CPU and wall time a frame, measured A/B).
        # Folding the grade into the warp/feedback draw (a second output) measured ~8% better
        # still, but then grade.frag would no longer be the grade a live edit changes.
        self._graded: RenderTarget | None = None
        self.upscale: PresentPass | None = None
        if self.work_size != self.size and (self.library.root / "present.frag").is_file():
            self._graded = RenderTarget(ctx, self.work_size, "f1")
            self.upscale = PresentPass(self.library)
        if self.fused:
            self.flow_field = FlowFieldPass(self.library, self.work_size)
            self.warp_feedback = WarpFeedbackPass(self.library, self.work_size, FEEDBACK_DTYPE)
            self._parts = [self.flow_field, self.warp_feedback, self.grade, self._output]
        else:
            self.content = ContentPass(self.library)
            self.feedback = FeedbackPass(self.library, self.work_size, FEEDBACK_DTYPE)
            self._content = RenderTarget(ctx, self.work_size, work_dtype)
            self._parts = [self.content, self.feedback, self.grade, self._content, self._output]
        # The pigment flow (issue 13) replaces warp, feedback and grade: generator frame -> fill ->
        # pigment -> tone, at the work size, then the same upscale.
        self.pigment: PigmentFlow | None = PigmentFlow(self.library, self.work_size, fill=self.fill) if pigment else None
        self._pigment_push = False  # a content frame waits to be filled (with that frame's fill params)
        self._previous = _Content(ctx)
        self._newest = _Content(ctx)
        self._finished = self._output.texture  # the last frame at the work size (the output's, at scale 1)
        self._upscaled = True  # _output holds the last frame
        self._t: float | None = None
        self.swirl_phase = 0.0
        self.flow_phase = 0.0

    # -- content ---------------------------------------------------------------------------

    def push_content(self, frame: np.ndarray) -> None:
        """A new content frame, uint8 [h, w, 3] (or 4: alpha ignored), row 0 = top, any size.
        It becomes the newest; the previous newest becomes the crossfade source."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4) or 0 in frame.shape:
            raise ValueError(
                f"push_content: expected a uint8 image [height, width, 3], got {frame.dtype} {list(frame.shape)}"
            )
        self._previous, self._newest = self._newest, self._previous
        self._newest.write(frame)
        self._pigment_push = True

    def impulse(self, x: float, y: float, strength: float, radius: float = 0.15) -> None:
        """Push the pigment outward from uv (x, y) (0, 0 bottom-left) at `strength` output heights
        per second; nothing without the pigment flow."""
        if self.pigment is not None:
            self.pigment.impulse(x, y, strength, radius)

    # -- one frame ---------------------------------------------------------------------------

    def _advance_phases(self, warp, t: float) -> None:
        if self._t is None or t < self._t:  # first frame, or time restarted
            self.swirl_phase = warp.swirl_speed * t
            self.flow_phase = warp.flow_speed * t
        else:
            dt = t - self._t
            self.swirl_phase += warp.swirl_speed * dt
            self.flow_phase += warp.flow_speed * dt
        self._t = t
        self.swirl_phase %= 1.0  # cos(2 pi phase) has period 1
        self.flow_phase %= NOISE_Z_PERIOD  # the noise repeats along z

    def render(self, frame, t: float, content_mix: float, full_size: bool = True) -> moderngl.Texture:
        """One frame, RGBA8. `frame`: the live values (a config.Frame, or a {'section.name': value}
        mapping whose missing keys take the schema's defaults); content_mix: 0 shows the
        previous content frame, 1 the newest.

        full_size=False (render_scale < 1, and nobody reads this frame back): returns the
        work-size frame and skips the upscale; the window scales it (bilinear) while drawing
        it anyway. `output` and `read_rgba` still upscale it when asked, the same pixels."""
        if not isinstance(frame, Frame):
            frame = Frame.from_values(frame)
        if not math.isfinite(t):
            t = self._t or 0.0
        dt = 0.0 if self._t is None or t < self._t else t - self._t
        self._advance_phases(frame.warp, t)
        if self.pigment is not None:
            self._finished = self._render_pigment(frame, dt, content_mix)
        else:
            fed = self._render_fused(frame, content_mix) if self.fused else self._render_reference(frame, content_mix)
            graded = self._graded if self._graded is not None else self._output
            self.grade.render(graded.framebuffer, fed, **vars(frame.grade))
            self._finished = graded.texture
        self._upscaled = self.upscale is None
        return self.output if full_size else self._finished

    def _render_pigment(self, frame, dt: float, content_mix: float) -> moderngl.Texture:
        params = params_from(PigmentParams, frame.pigment)
        if self._pigment_push:
            self.pigment.push(self._newest.texture, params)
            self._pigment_push = False
        tone = params_from(ToneParams, frame.tone)
        if self.upscale is None:  # drawn at the output size: straight into the output
            return self.pigment.render(dt, params, tone, content_mix, into=self._output.texture)
        return self.pigment.render(dt, params, tone, content_mix)

    def _scales(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return (fit_scale(self._previous.texture.size, self.size, self.fit, self.tiles),
                fit_scale(self._newest.texture.size, self.size, self.fit, self.tiles))

    def _render_fused(self, frame, content_mix: float) -> moderngl.Texture:
        if frame.warp.flow != 0.0:
            self.flow_field.render(frame.warp.flow_scale, self.flow_phase)
        return self.warp_feedback.render(
            self._previous.texture, self._newest.texture, content_mix, *self._scales(),
            warp=frame.warp, feedback=frame.feedback, swirl_phase=self.swirl_phase, flow_field=self.flow_field.texture,
        )

    def _render_reference(self, frame, content_mix: float) -> moderngl.Texture:
        warp = frame.warp
        self.content.render(
            self._content.framebuffer, self._previous.texture, self._newest.texture, content_mix, *self._scales(),
            swirl=swirl_of(warp, self.swirl_phase),
            flow=dict(strength=warp.flow, scale=warp.flow_scale, phase=self.flow_phase),
        )
        return self.feedback.render(self._content.texture, **vars(frame.feedback))

    def _upscale_last(self) -> None:
        """Bring the output up to date: upscale the last frame if render() skipped it."""
        if not self._upscaled:
            self.upscale.render(self._output.framebuffer, self._finished)
            self._upscaled = True

    @property
    def output(self) -> moderngl.Texture:
        """The last frame at the output size."""
        self._upscale_last()
        return self._output.texture

    def read_rgba(self) -> np.ndarray:
        """The last rendered frame as uint8 [height, width, 4] at the output size, row 0 = top
        (window.read_rgba)."""
        self._upscale_last()
        return read_rgba(self._output.framebuffer)

    def reload_if_changed(self) -> list[str]:
        """Recompile passes whose shader files changed; a pass that fails keeps its old
        program. Returns the error messages (file:line: message), empty if all went well."""
        return self.library.reload_if_changed()

    def release(self) -> None:
        for part in self._parts:
            part.release()
        for part in (self._graded, self.upscale, self.pigment):
            if part is not None:
                part.release()
        self._previous.release()
        self._newest.release()
        self.library.release()
