"""The handler table: what each action (installation.actions) does to the running show's parts.
Keys, OSC, MIDI and cues all end here, on the frame loop."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger("installation.show")

GALLERY_ESC_SECONDS = 2.0  # gallery mode: the second Esc must come within this time


def handler_table(show) -> dict[str, Callable]:
    latent, cues, recording = show.latent, show.cues, show.recording
    last_escape = [-1e9]

    def scene(name_or_index) -> None:
        s = name_or_index
        if isinstance(s, str) and s not in show.cfg.scenes and s.isdigit():
            s = int(s)
        cues.go_to_scene(s)

    def go_to_cue(index: int) -> None:
        if index < len(show.cfg.cues):
            cues.go_to_cue(index)

    def toggle_dream() -> None:
        if show.dreamer is None:
            show.dreamer = show.worker.dreamer = show.make_dreamer()
        show.dream_on = not show.dream_on

    def fullscreen() -> None:
        show.opt.fullscreen = not show.opt.fullscreen
        show.window.set_fullscreen(show.opt.fullscreen, show.opt.monitor)

    def screenshot() -> None:
        from PIL import Image

        path = Path(f"screenshot-{time.strftime('%Y%m%d-%H%M%S')}.png")
        Image.fromarray(show.chain.read_rgba()[..., :3]).save(path)  # the show's size, as a recording has it
        log.info("screenshot: %s", path)

    def quit() -> None:
        now = time.monotonic()
        if not show.gallery or now - last_escape[0] <= GALLERY_ESC_SECONDS:
            show.request_stop()
        else:
            last_escape[0] = now
            log.info("gallery mode: press Esc again within %.0f s to quit", GALLERY_ESC_SECONDS)

    return {
        "next_keyframe": latent.next_keyframe,
        "previous_keyframe": latent.previous_keyframe,
        "jump_to_seed": latent.jump_to_seed,
        "scene": scene,
        "cue_next": cues.next_cue,
        "cue_previous": cues.previous_cue,
        "go_to_cue": go_to_cue,
        "step_next": lambda: cues.next_cue() if show.cfg.cues else latent.next_keyframe(),
        "step_previous": lambda: cues.previous_cue() if show.cfg.cues else latent.previous_keyframe(),
        "reload_show": lambda: None if show.reloader.too_soon() else show.reload_show(),
        "toggle_dream": toggle_dream,
        "midi_learn": show.controls.midi_learn,
        "pigment_impulse": lambda x, y, strength: show.chain.impulse(x, y, strength),
        "record_start": lambda name=None: recording.start(name=name),
        "record_stop": recording.stop,
        "record_toggle": lambda: recording.stop() if recording.active else recording.start(),
        "fullscreen": fullscreen,
        "screenshot": screenshot,
        "quit": quit,
    }
