"""An NDI source (ndi-python, which ships the NDI runtime): every frame it is given goes out as
RGBX (the alpha the read-back carries means nothing to a receiver)."""

from __future__ import annotations

import numpy as np

NDI_MISSING = "NDI output needs the ndi-python package (it ships the NDI runtime): pip install 'installation[rig]' (or pip install ndi-python)"


def load_ndi_module():
    try:
        import NDIlib
    except ImportError:
        raise RuntimeError(NDI_MISSING) from None
    except OSError as e:  # the bundled libndi.so cannot load here
        raise RuntimeError(f"NDI output: the NDI runtime does not load here ({e}); {NDI_MISSING}") from None
    return NDIlib


class NdiSender:
    """One NDI source named `name`; `send` is synchronous (ThreadedOutput runs it off the frame loop)."""

    def __init__(self, name: str, fps: float, ndi=None):
        self.ndi = ndi = ndi or load_ndi_module()
        if not ndi.initialize():
            raise RuntimeError("NDI output: the NDI runtime does not start on this machine (NDIlib.initialize failed)")
        create = ndi.SendCreate()
        create.ndi_name = name
        create.clock_video = False  # the show's clock paces the frames, not NDI
        self._send = ndi.send_create(create)
        if self._send is None:
            raise RuntimeError(f"NDI output: cannot create the source {name!r}")
        self._frame = ndi.VideoFrameV2()
        self._frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX
        self._frame.frame_rate_N, self._frame.frame_rate_D = int(round(fps * 1000)), 1000

    @property
    def source_name(self) -> str:
        """The full name receivers see, 'HOST (name)'."""
        return self.ndi.send_get_source_name(self._send).ndi_name

    def send(self, rgba: np.ndarray) -> None:
        self._frame.data = np.ascontiguousarray(rgba)
        self.ndi.send_send_video_v2(self._send, self._frame)

    def close(self) -> None:
        if self._send is not None:
            self.ndi.send_destroy(self._send)
            self._send = None
