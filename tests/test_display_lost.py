"""Losing the display during `play --record` finalises the recording (issue #15 item 7).

A real Xvfb server, a real window, a real ffmpeg encode read back. The X server is killed, or the
window's client is killed the way xkill does it (XKillClient); both used to end the process from
inside Xlib (exit 1, or a segfault) with only the hidden .partial left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny_show import write_show
from conftest import first_frame_shown

from installation.record import partial_path, read_video
from installation.render.window import DISPLAY_LOST_EXIT

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    r, w = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()  # written once the server accepts clients
    assert number, "Xvfb did not start"
    return xvfb, f":{number}"


KILL_EVERY_CLIENT = """
import ctypes, sys
x = ctypes.CDLL("libX11.so.6")
x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
x.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
                         ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)), ctypes.POINTER(ctypes.c_uint)]
x.XKillClient.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
d = x.XOpenDisplay(sys.argv[1].encode())
root, parent, children, n = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
x.XQueryTree(d, x.XDefaultRootWindow(d), ctypes.byref(root), ctypes.byref(parent), ctypes.byref(children), ctypes.byref(n))
if n.value:
    x.XKillClient(d, children[n.value - 1])  # the show is the only client: its top window
x.XSync(d, 0)
print(n.value)
"""


def kill_every_client(display: str) -> None:
    """What xkill does to a window: XKillClient on it (the topmost, the show's). In its own
    process: Xlib in the test process would share the fate of the connections it touches."""
    r = subprocess.run([sys.executable, "-c", KILL_EVERY_CLIENT, display], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() not in ("", "0"), (r.stdout, r.stderr)


@pytest.mark.parametrize("how", ["kill the X server", "xkill the window"])
def test_losing_the_display_finalises_the_recording(tmp_path, how):
    show = write_show(tmp_path, fps=30)
    out = tmp_path / "set.mp4"
    xvfb, display = start_xvfb()
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO)}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "installation", "play", str(show), "--record", str(out)]
    try:
        with first_frame_shown(cmd, tmp_path, env) as (proc, lines):
            if how == "kill the X server":
                xvfb.kill()
            else:
                kill_every_client(display)
            rc = proc.wait(timeout=120)
    finally:
        if xvfb.poll() is None:
            xvfb.kill()
        xvfb.wait()
    stderr = "".join(lines)
    assert rc == DISPLAY_LOST_EXIT, stderr[-3000:]
    assert "display lost: recording finalised" in stderr and "Traceback" not in stderr
    frames, fps = read_video(out)
    assert len(frames) > 0 and fps == 30
    assert not partial_path(out).exists()
