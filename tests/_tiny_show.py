"""A tiny show file for fast show tests: a 16 px stand-in generator, a 32x24 output."""

from __future__ import annotations

from pathlib import Path

TINY_TOML = """
[show]
name = "tiny"
width = 32
height = 24
fps = {fps}
seed = 0
{show_extra}

[model]
checkpoint = "random:3:16"

[latent]
seeds = {seeds}
seconds_per_keyframe = 0.5

[osc]
enabled = {osc}
"""

SCENES_TOML = """
[scenes.a]
warp = {{ swirl = 1.0 }}
grade = {{ exposure = -1.0 }}

[scenes.b]
seeds = [7, 8]
warp = {{ swirl = 3.0 }}
grade = {{ exposure = 1.0, hue = 0.5 }}

[[cues]]
scene = "a"
fade = 0.0

[[cues]]
scene = "b"
fade = {fade}
"""


def write_show(folder: Path, *, fps: float = 10, osc: bool = False, scenes: bool = False, fade: float = 1.0,
               show_extra: str = "", extra: str = "", name: str = "show.toml", seeds: str = "[1, 2, 3]") -> Path:
    text = TINY_TOML.format(fps=fps, osc=str(osc).lower(), show_extra=show_extra, seeds=seeds)
    if scenes:
        text += SCENES_TOML.format(fade=fade)
    path = Path(folder) / name
    path.write_text(text + extra, encoding="utf-8")
    return path


def run_until(show, cond, max_frames=300):
    """Run a live show frame by frame until cond() holds (bounded, so a failing test ends)."""
    def check(k, px):
        if cond():
            show.request_stop()

    show.run(frames=max_frames, on_frame=check)
    show.stop_requested = False
    return cond()
