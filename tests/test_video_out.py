"""Video out to other software: a live show's frames received from our NDI source by a real NDI
receiver on loopback (ndi-python ships the runtime); the virtual camera's frame path with a
stand-in camera at pyvirtualcam's boundary (no v4l2loopback device here); missing runtimes are
one line; an output that fails mid-show is dropped and the show goes on."""

from __future__ import annotations

import sys
import threading
import types
import uuid
from pathlib import Path

import numpy as np
import pytest
from _tiny_show import write_show
from click.testing import CliRunner
from conftest import wait_for

from installation.cli import cli
from installation.config import load_show
from installation.output.threaded import ThreadedOutput
from installation.show import Show, ShowOptions

DISCOVERY_S = 20.0  # a generous bound for NDI to find and connect a source on loopback


def _play_fails_in_one_line(tmp_path, *args, named=()):
    path = write_show(tmp_path)
    result = CliRunner().invoke(cli, ["play", str(path), "--headless", "--seconds", "5", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error:"), result.output
    for n in named:
        assert n in lines[0], result.output


# -- NDI ------------------------------------------------------------------------------------------


class _NdiReceiver:
    """A real NDI receiver that finds sources on loopback and keeps the newest video frame."""

    def __init__(self, ndi, source_name: str):
        self.ndi = ndi
        find_settings = ndi.FindCreate()
        find_settings.show_local_sources = True
        find_settings.extra_ips = "127.0.0.1"  # no multicast discovery needed
        self.find = ndi.find_create_v2(find_settings)
        self.source_name = source_name
        self.recv = None

    def connected(self) -> bool:
        sources = [s for s in self.ndi.find_get_current_sources(self.find) if s.ndi_name == self.source_name]
        if sources and self.recv is None:
            settings = self.ndi.RecvCreateV3()
            settings.color_format = self.ndi.RECV_COLOR_FORMAT_RGBX_RGBA
            self.recv = self.ndi.recv_create_v3(settings)
            self.ndi.recv_connect(self.recv, sources[0])
        return self.recv is not None

    def frame(self) -> np.ndarray | None:
        kind, video, _, _ = self.ndi.recv_capture_v2(self.recv, 50)
        if kind != self.ndi.FRAME_TYPE_VIDEO:
            return None
        image = np.array(video.data, copy=True)
        self.ndi.recv_free_video_v2(self.recv, video)
        return image

    def close(self) -> None:
        if self.recv is not None:
            self.ndi.recv_destroy(self.recv)
        self.ndi.find_destroy(self.find)


def test_a_live_show_is_received_as_an_ndi_source_on_loopback(tmp_path):
    ndi = pytest.importorskip("NDIlib", reason="ndi-python is not installed (pip install 'installation[rig]')")
    if not ndi.initialize():
        pytest.skip("the NDI runtime does not start on this machine")
    name = f"rigtest-{uuid.uuid4().hex[:8]}"
    cfg = load_show(write_show(tmp_path), ["warp.swirl=2.0"])
    shown: list[np.ndarray] = []
    with Show(cfg, ShowOptions(headless=True, ndi=name)) as show:
        sender = show.outputs.video[0].target
        receiver = _NdiReceiver(ndi, sender.source_name)
        try:
            got: list[np.ndarray] = []

            def received(k, px):
                shown.append(px.copy())
                if receiver.connected():
                    frame = receiver.frame()
                    if frame is not None and float(np.std(frame[..., :3])) > 1.0:  # a picture (the first are black)
                        got.append(frame)
                        show.request_stop()

            show.run(seconds=DISCOVERY_S, on_frame=received)
            assert got, "no NDI picture arrived"
        finally:
            receiver.close()
    frame = got[0]
    assert frame.shape == (cfg.show.height, cfg.show.width, 4)
    # NDI compresses (SpeedHQ), so the frame is one of the shown ones within a few levels.
    err = min(np.abs(frame[..., :3].astype(int) - px.astype(int)).mean() for px in shown)
    assert err < 6.0, err  # a different frame is 30-60 levels off


def test_ndi_without_its_package_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "NDIlib", None)  # import NDIlib -> ImportError
    _play_fails_in_one_line(tmp_path, "--ndi", "stage", named=("ndi-python",))


# -- virtual camera -------------------------------------------------------------------------------


class _StandInCamera:
    """pyvirtualcam.Camera's surface as VirtualCamera uses it; keeps what it was sent."""

    def __init__(self, width, height, fps, fmt=None, device=None, fail_after: int | None = None):
        self.size, self.fmt, self.device = (width, height), fmt, device or "/dev/video-standin"
        self.frames: list[np.ndarray] = []
        self.fail_after = fail_after
        self.closed = False

    def send(self, frame: np.ndarray) -> None:
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            raise RuntimeError("device\nunplugged")
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def stand_in_cameras(monkeypatch):
    """pyvirtualcam with a stand-in Camera; the list holds every camera the show opened."""
    cameras: list[_StandInCamera] = []
    options: dict = {}

    def camera(*args, **kw):
        cameras.append(_StandInCamera(*args, **kw, **options))
        return cameras[-1]

    module = types.SimpleNamespace(Camera=camera, PixelFormat=types.SimpleNamespace(RGB="rgb"))
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    return cameras, options


def test_the_virtual_camera_gets_every_shown_frame_as_rgb(tmp_path, stand_in_cameras):
    cameras, _ = stand_in_cameras
    cfg = load_show(write_show(tmp_path), ["warp.swirl=2.0"])
    shown: list[np.ndarray] = []
    with Show(cfg, ShowOptions(headless=True, virtual_camera=True)) as show:
        show.run(frames=8, on_frame=lambda k, px: shown.append(px.copy()))
        output = show.outputs.video[0]
        assert wait_for(lambda: output.sent + output.dropped == 8, 10.0)
    cam = cameras[0]
    assert cam.size == (cfg.show.width, cfg.show.height) and cam.fmt == "rgb" and cam.closed
    assert cam.frames and all(f.shape == (cfg.show.height, cfg.show.width, 3) for f in cam.frames)
    assert np.array_equal(cam.frames[-1], shown[-1])  # the newest frame always goes out


def test_a_camera_that_fails_mid_show_is_dropped_and_the_show_goes_on(tmp_path, stand_in_cameras, caplog):
    cameras, options = stand_in_cameras
    options["fail_after"] = 2
    with Show(load_show(write_show(tmp_path)), ShowOptions(headless=True, virtual_camera=True)) as show:
        with caplog.at_level("ERROR"):
            stats = show.run(frames=40, on_frame=lambda k, px: wait_for(lambda: show.outputs.video == []
                                                                        or show.outputs.video[0].failed, 0.5))
        assert stats.frames == 40 and show.outputs.video == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["virtual camera output failed: device unplugged; dropped, the show goes on"]
    assert cameras[0].closed


def test_no_v4l2loopback_device_is_one_line_naming_what_to_install(tmp_path):
    pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (pip install 'installation[rig]')")
    if sys.platform != "linux" or any(Path("/dev").glob("video*")):
        pytest.skip("a video device exists here: the missing-device line cannot be seen")
    _play_fails_in_one_line(tmp_path, "--virtual-camera", named=("v4l2loopback",))


def test_the_virtual_camera_without_its_package_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    _play_fails_in_one_line(tmp_path, "--virtual-camera", named=("pyvirtualcam",))


# -- the threaded sender --------------------------------------------------------------------------


def test_a_slow_output_never_holds_the_frame_loop_and_keeps_the_newest_frame():
    release = threading.Event()
    sent: list[int] = []

    class Slow:
        def send(self, rgba):
            release.wait(10.0)  # a receiver that does not keep up
            sent.append(int(rgba[0, 0, 0]))

        def close(self):
            pass

    out = ThreadedOutput("slow", Slow())
    frames = [np.full((2, 2, 4), i, np.uint8) for i in range(5)]
    out.send(frames[0])
    assert wait_for(lambda: out._pending is None, 5.0)  # the thread took frame 0 and waits in send
    for f in frames[1:]:
        out.send(f)  # returns at once although the target is stuck
    release.set()
    assert wait_for(lambda: out.sent == 2, 5.0)
    out.close()
    assert sent == [0, 4] and out.dropped == 3  # frames 1-3 were replaced by newer ones


# -- the show file and the CLI --------------------------------------------------------------------


def test_a_bad_output_or_link_key_names_the_key(tmp_path):
    from installation.config import ShowConfigError

    for extra, key in (('\n[output]\nvirtual_camera = "yes please"\n', "output.virtual_camera"),
                       ("\n[link]\nquantum = 0\n", "link.quantum")):
        with pytest.raises(ShowConfigError, match=key):
            load_show(write_show(tmp_path, extra=extra))


def test_play_help_names_the_rig_options():
    result = CliRunner().invoke(cli, ["play", "--help"])
    for option in ("--ndi", "--virtual-camera", "--midi", "--link", "--query-port"):
        assert option in result.output, option
