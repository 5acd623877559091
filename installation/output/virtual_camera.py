"""A virtual camera (pyvirtualcam): v4l2loopback on Linux, OBS's virtual camera on Windows and
macOS. Frames go out as RGB, the one format every backend takes."""

from __future__ import annotations

import numpy as np

CAMERA_MISSING = "the virtual camera needs the pyvirtualcam package: pip install 'installation[rig]' (or pip install pyvirtualcam)"
CAMERA_RUNTIME = ("Linux: sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback; "
                  "Windows / macOS: install OBS and start its virtual camera once")


def load_camera_module():
    try:
        import pyvirtualcam
    except ImportError:
        raise RuntimeError(CAMERA_MISSING) from None
    return pyvirtualcam


class VirtualCamera:
    def __init__(self, width: int, height: int, fps: float, device: str | None = None, camera=None):
        if camera is None:  # tests hand in a camera object
            pyvirtualcam = load_camera_module()
            try:
                camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device)
            except Exception as e:  # no v4l2loopback device, no OBS: one line naming what to install
                why = " ".join(str(e).split())
                raise RuntimeError(f"virtual camera: {why} ({CAMERA_RUNTIME})") from None
        self.camera = camera

    @property
    def device(self) -> str:
        return self.camera.device

    def send(self, rgba: np.ndarray) -> None:
        self.camera.send(np.ascontiguousarray(rgba[..., :3]))

    def close(self) -> None:
        self.camera.close()
