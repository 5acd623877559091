"""Where each displayed frame goes besides the window: the recording, the video outputs (NDI, a
virtual camera: output/) and a caller's on_frame (tests, bench). One RGBA read-back a frame, and
only when someone takes it; every step guarded, so none of them stops the show."""

from __future__ import annotations

import logging
from typing import Callable

from installation.config import ShowConfig
from installation.guard import Guard
from installation.output.threaded import ThreadedOutput
from installation.recording import Recording
from installation.show_options import ShowOptions

log = logging.getLogger(__name__)


def open_video_outputs(cfg: ShowConfig, opt: ShowOptions) -> list[ThreadedOutput]:
    """The NDI source and the virtual camera the show file and the CLI ask for (the CLI wins).
    Live shows only: a frame-exact render sends nothing. A missing runtime raises one line."""
    if opt.offline:
        return []
    ndi_name = opt.ndi if opt.ndi is not None else cfg.output.ndi
    camera = opt.virtual_camera or cfg.output.virtual_camera
    outputs: list[ThreadedOutput] = []
    try:
        if ndi_name:
            from installation.output.ndi import NdiSender

            sender = NdiSender(ndi_name, cfg.show.fps)
            outputs.append(ThreadedOutput("NDI", sender))
            log.info("NDI output: source %r", sender.source_name)
        if camera:
            from installation.output.virtual_camera import VirtualCamera

            cam = VirtualCamera(cfg.show.width, cfg.show.height, cfg.show.fps, cfg.output.virtual_camera_device)
            outputs.append(ThreadedOutput("virtual camera", cam))
            log.info("virtual camera: %s", cam.device)
    except BaseException:
        close_all(outputs)
        raise
    return outputs


def close_all(outputs: list[ThreadedOutput]) -> None:
    for out in outputs:
        out.close()


class Outputs:
    def __init__(self, recording: Recording, guard: Guard):
        self.recording = recording
        self.guard = guard
        self.video: list[ThreadedOutput] = []

    def open(self, cfg: ShowConfig, opt: ShowOptions) -> None:
        """Before the first frame: a missing runtime raises one line here, never mid-show."""
        self.video = open_video_outputs(cfg, opt)

    def reads_back(self, on_frame: Callable | None = None) -> bool:
        """Whether this frame is read back (write() below); if not, the chain may skip its
        full-size upscale and leave the scaling to the window."""
        return self.recording.active or bool(self.video) or on_frame is not None

    def write(self, k: int, read_rgba: Callable, on_frame: Callable | None = None) -> bool:
        """Frame k to everyone who takes it. Returns False when the recording failed (and was dropped)."""
        if self.reads_back(on_frame):
            # RGBA: a plain copy out of GL (an RGB read repacks every pixel, ~10x slower)
            pixels = self.guard("read", read_rgba)
            if pixels is not None:
                if self.recording.active:
                    self.guard("record", self.recording.write, pixels)
                for out in self.video:
                    out.send(pixels)  # never blocks; the frame is fresh, so no copy
                if on_frame is not None:
                    on_frame(k, pixels[..., :3])
        failed = [out for out in self.video if out.failed]
        if failed:  # logged once by the output; dropped, the show goes on
            self.video = [out for out in self.video if not out.failed]
            close_all(failed)
        if self.recording.failed:
            self.guard("record", self.recording.drop_failed)
            return False
        return True

    def stop(self) -> None:
        outputs, self.video = self.video, []
        close_all(outputs)
