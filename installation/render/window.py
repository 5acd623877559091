"""Where frames are shown: a glfw window or a headless EGL context, one interface.

Tests, offline renders and live shows all draw through `Window`, so they run the same code.

Image orientation (the one rule): numpy images are row 0 = TOP; GL textures and
framebuffers are row 0 = BOTTOM, and every shader's uv has (0, 0) at the bottom-left
(so `warp.swirl_y = 0` is the bottom, as the show schema says). The rows are flipped in
this module only, where pixels cross between numpy and GL: `write_image` (numpy ->
texture), `read_image` and `read_rgba` (framebuffer -> numpy). Nothing else flips.
"""

from __future__ import annotations

import ctypes
import os
from typing import Protocol, runtime_checkable

import moderngl
import numpy as np

from installation.render.passes import PresentPass, configure_texture
from installation.render.shaders import DEFAULT_SHADER_DIR, ShaderLibrary



# --- the only two places rows are flipped -------------------------------------------------


def write_image(texture: moderngl.Texture, image: np.ndarray) -> None:
    """Upload a top-first uint8 image [h, w, c] into a texture of the same size and
    component count (GL rows are bottom-first, so the rows are flipped here)."""
    texture.write(np.ascontiguousarray(image[::-1]), alignment=1)


def read_image(framebuffer: moderngl.Framebuffer) -> np.ndarray:
    """Read a framebuffer as a top-first uint8 RGB image [h, w, 3]."""
    width, height = framebuffer.size
    data = framebuffer.read(viewport=(0, 0, width, height), components=3, alignment=1)
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()


def read_rgba(framebuffer: moderngl.Framebuffer) -> np.ndarray:
    """Read a framebuffer as a top-first uint8 RGBA image [h, w, 4]: a row-flipped view of a
    fresh buffer. Reading all 4 components is a plain copy on llvmpipe (at 1920x1080 ~0.5 ms,
    against 8-27 ms for the RGB read that repacks every pixel); take [..., :3] for RGB."""
    width, height = framebuffer.size
    buf = np.empty((height, width, 4), np.uint8)
    framebuffer.read_into(buf, viewport=(0, 0, width, height), components=4, alignment=1)
    return buf[::-1]


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class Window(Protocol):
    ctx: moderngl.Context
    size: tuple[int, int]  # framebuffer (width, height)

    def should_close(self) -> bool: ...

    def poll(self) -> list[str]: ...

    def present(self, texture: moderngl.Texture) -> None: ...

    def read(self) -> np.ndarray: ...

    def set_fullscreen(self, on: bool, monitor: int | None = None) -> None: ...

    def close(self) -> None: ...


def letterbox(frame: tuple[int, int], window: tuple[int, int]) -> tuple[int, int, int, int]:
    """Viewport (x, y, w, h) that shows a frame as large as fits, centred, aspect kept."""
    fw, fh = frame
    ww, wh = window
    scale = min(ww / fw, wh / fh)
    w = max(1, min(ww, round(fw * scale)))
    h = max(1, min(wh, round(fh * scale)))
    return (ww - w) // 2, (wh - h) // 2, w, h


class _Presenter:
    """What both backends share: draw a texture letterboxed, and read back the last frame
    at the size it was rendered (not the window size, so a recording keeps the show's size
    when the window is resized or goes fullscreen)."""

    def __init__(self, ctx: moderngl.Context):
        self._library = ShaderLibrary(ctx, DEFAULT_SHADER_DIR)
        self._pass = PresentPass(self._library)
        self._last: moderngl.Texture | None = None
        self._read_fbo: moderngl.Framebuffer | None = None

    def _framebuffer_of(self, texture: moderngl.Texture) -> moderngl.Framebuffer:
        """A framebuffer around the presented texture (cached: it is the same most frames)."""
        if self._read_fbo is None or self._read_fbo.color_attachments[0] is not texture:
            if self._read_fbo is not None:
                self._read_fbo.release()
            self._read_fbo = texture.ctx.framebuffer(color_attachments=[texture])
        return self._read_fbo

    def draw(self, screen: moderngl.Framebuffer, window_size: tuple[int, int], texture: moderngl.Texture) -> None:
        self._last = texture
        screen.viewport = (0, 0, *window_size)
        if tuple(texture.size) == tuple(window_size):
            # Same size: a straight blit (a memory copy on llvmpipe, ~100x cheaper than a draw).
            texture.ctx.copy_framebuffer(screen, self._framebuffer_of(texture))
            return
        screen.use()
        viewport = letterbox(texture.size, window_size)
        if viewport != (0, 0, *window_size):  # bars to paint black; a full draw covers every pixel
            screen.clear(0.0, 0.0, 0.0, 1.0)
        screen.viewport = viewport
        configure_texture(texture)
        self._pass.render(screen, texture)
        screen.viewport = (0, 0, *window_size)

    def read(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("read() before present(): nothing has been shown yet")
        return read_image(self._framebuffer_of(self._last))

    def release(self) -> None:
        if self._read_fbo is not None:
            self._read_fbo.release()
        self._pass.release()
        self._library.release()


class HeadlessWindow:
    """An EGL standalone context with an offscreen framebuffer of the given size."""

    def __init__(self, width: int, height: int):
        try:
            self.ctx = moderngl.create_standalone_context(require=330, backend="egl")
        except Exception as e:  # noqa: BLE001 - moderngl raises plain Exception here
            raise RuntimeError(
                f"cannot create a headless OpenGL 3.3 context through EGL ({e}); "
                "install Mesa's EGL (apt: libegl1 libgl1-mesa-dri) or run scripts/bootstrap.sh"
            ) from None
        self.size = (int(width), int(height))
        self._screen_texture = self.ctx.texture(self.size, 4)
        self.screen = self.ctx.framebuffer(color_attachments=[self._screen_texture])
        self._presenter = _Presenter(self.ctx)
        self._closed = False

    def should_close(self) -> bool:
        return self._closed

    def poll(self) -> list[str]:
        return []

    def present(self, texture: moderngl.Texture) -> None:
        self._presenter.draw(self.screen, self.size, texture)

    def read(self) -> np.ndarray:
        """The last presented frame, uint8 [H, W, 3], row 0 = top, at its rendered size."""
        return self._presenter.read()

    def read_screen(self) -> np.ndarray:
        """The offscreen 'screen' as a window would show it (letterboxed), [H, W, 3]."""
        return read_image(self.screen)

    def set_fullscreen(self, on: bool, monitor: int | None = None) -> None:
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._presenter.release()
        self.screen.release()
        self._screen_texture.release()
        self.ctx.release()
        _unbind_egl_context()


def _unbind_egl_context() -> None:
    """moderngl's EGL release destroys the context but leaves it current on this thread;
    with libglvnd, a GLX window made later in the same process (tests, or a show that
    falls back from headless) then dies with an X BadAccess error. Unbind it."""
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    egl.eglMakeCurrent.restype = ctypes.c_uint
    display = egl.eglGetCurrentDisplay()
    if display:
        egl.eglMakeCurrent(display, None, None, None)


# --- glfw ---------------------------------------------------------------------------------


def _glfw():
    import glfw  # local: importing glfw is harmless, but keep headless paths free of it

    return glfw


def has_display() -> bool:
    """True when a window can be opened: DISPLAY or WAYLAND_DISPLAY is set and glfw starts."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return bool(_glfw().init())
    except Exception:  # noqa: BLE001 - glfw may raise GLFWError or fail to load its library
        return False


def list_monitors() -> list[dict]:
    """Connected monitors: index, name, current mode and available modes ([] without a display)."""
    if not has_display():
        return []
    glfw = _glfw()
    monitors = []
    for index, monitor in enumerate(glfw.get_monitors() or []):
        current = glfw.get_video_mode(monitor)
        modes = []
        for m in glfw.get_video_modes(monitor) or []:
            mode = _mode_dict(m)
            if mode not in modes:
                modes.append(mode)
        monitors.append(
            {
                "index": index,
                "name": _text(glfw.get_monitor_name(monitor)),
                "current": _mode_dict(current) if current else None,
                "modes": modes,
            }
        )
    return monitors


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _mode_dict(mode) -> dict:
    return {"width": mode.size.width, "height": mode.size.height, "refresh": mode.refresh_rate}


def _key_names(glfw) -> dict[int, str]:
    names = {
        glfw.KEY_SPACE: "space",
        glfw.KEY_ESCAPE: "escape",
        glfw.KEY_ENTER: "enter",
        glfw.KEY_KP_ENTER: "enter",
        glfw.KEY_TAB: "tab",
        glfw.KEY_BACKSPACE: "backspace",
        glfw.KEY_DELETE: "delete",
        glfw.KEY_LEFT: "left",
        glfw.KEY_RIGHT: "right",
        glfw.KEY_UP: "up",
        glfw.KEY_DOWN: "down",
        glfw.KEY_PAGE_UP: "page_up",
        glfw.KEY_PAGE_DOWN: "page_down",
        glfw.KEY_HOME: "home",
        glfw.KEY_END: "end",
    }
    for n in range(1, 13):
        names[getattr(glfw, f"KEY_F{n}")] = f"f{n}"
    return names


# Xlib's default handler for a lost display connection (X server gone, window killed with xkill)
# prints "XIO: fatal IO error" and calls exit() from inside a C call: no Python clean-up runs and
# Mesa may crash on the way out (exit 139). Ours runs lifeline's last words (recordings are
# finalised) and ends the process itself. Kept referenced: Xlib holds the C pointer.
DISPLAY_LOST_EXIT = 1
_io_error_handler = None


def _install_display_lost_handler() -> None:
    global _io_error_handler
    if _io_error_handler is not None or not os.environ.get("DISPLAY"):
        return
    try:
        x11 = ctypes.CDLL("libX11.so.6")  # the copy glfw uses (same soname, one handler per process)
    except OSError:
        return

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
    def on_io_error(_display):
        import logging
        import sys

        from installation import lifeline

        logging.getLogger(__name__).error("display lost (X server gone or window killed): finishing up")
        lifeline.last_words("display lost")
        print("display lost: the show stopped (recordings were finalised)", file=sys.stderr, flush=True)
        logging.shutdown()
        os._exit(DISPLAY_LOST_EXIT)  # never return into Xlib: it would exit() without our clean-up

    x11.XSetIOErrorHandler.argtypes = [ctypes.c_void_p]
    x11.XSetIOErrorHandler.restype = ctypes.c_void_p
    x11.XSetIOErrorHandler(ctypes.cast(on_io_error, ctypes.c_void_p))
    _io_error_handler = on_io_error


class GlfwWindow:
    """A glfw window with an OpenGL 3.3 core context; windowed or fullscreen on a monitor.

    The cursor is hidden in fullscreen (and always with hide_cursor, for galleries). The
    framebuffer may be resized at any time; the chain keeps its own render size and `present`
    letterboxes the frame into the window. When monitors come or go, a fullscreen window moves
    to the monitor it was asked for if it is there, else to the first one, else to a window.
    """

    def __init__(
        self,
        width: int,
        height: int,
        title: str = "installation",
        fullscreen: bool = False,
        monitor: int = 0,
        vsync: bool = True,
        hide_cursor: bool = False,
    ):
        glfw = self._glfw = _glfw()
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or not glfw.init():
            raise RuntimeError("no display: set DISPLAY (or run under `xvfb-run -a`), or use the headless renderer")
        _install_display_lost_handler()
        # A GLX context cannot be made current while an EGL one is (libglvnd): the X error
        # would end the process. Any headless context on this thread stops being current
        # here anyway, once the window's context is.
        _unbind_egl_context()
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        self.monitor = monitor  # the monitor asked for; fullscreen returns to it when it reappears
        self.hide_cursor = bool(hide_cursor)
        self._monitors_changed = False
        self._windowed = (100, 100, int(width), int(height))  # x, y, w, h to return to
        if fullscreen:
            mon = self._monitor(monitor)
            mode = glfw.get_video_mode(mon)
            self.window = glfw.create_window(mode.size.width, mode.size.height, title, mon, None)
        else:
            self.window = glfw.create_window(int(width), int(height), title, None, None)
        if not self.window:
            raise RuntimeError(f"glfw could not open a {width}x{height} window with OpenGL 3.3 core")
        glfw.make_context_current(self.window)
        glfw.swap_interval(1 if vsync else 0)
        self.ctx = moderngl.create_context(require=330)
        self.fullscreen = bool(fullscreen)
        self._set_cursor()
        self._keys: list[str] = []
        self._names = _key_names(glfw)
        glfw.set_key_callback(self.window, self._on_key)
        glfw.set_monitor_callback(self._on_monitor)
        self.size = tuple(glfw.get_framebuffer_size(self.window))
        self._presenter = _Presenter(self.ctx)
        self._closed = False

    def _monitor(self, index: int):
        monitors = self._glfw.get_monitors() or []
        if not monitors:
            raise RuntimeError("no monitors found for fullscreen")
        if not 0 <= index < len(monitors):
            raise ValueError(f"monitor {index} does not exist; there are {len(monitors)} (0..{len(monitors) - 1})")
        return monitors[index]

    def _set_cursor(self) -> None:
        glfw = self._glfw
        hidden = self.fullscreen or self.hide_cursor
        glfw.set_input_mode(self.window, glfw.CURSOR, glfw.CURSOR_HIDDEN if hidden else glfw.CURSOR_NORMAL)

    def _on_monitor(self, monitor, event) -> None:
        self._monitors_changed = True  # handled in poll(), on the frame loop

    def _follow_monitors(self) -> None:
        """A projector unplugged or plugged back in: keep the show on a screen that exists."""
        self._monitors_changed = False
        if not self.fullscreen:
            return
        wanted = self.monitor
        count = len(self._glfw.get_monitors() or [])
        if count == 0:
            self.set_fullscreen(False)
        else:
            self.set_fullscreen(True, wanted if wanted < count else 0)
        self.monitor = wanted

    def _on_key(self, window, key, scancode, action, mods) -> None:
        if action != self._glfw.PRESS:
            return
        name = self._names.get(key)
        if name is None:
            raw = _text(self._glfw.get_key_name(key, scancode))
            if raw:
                name = raw.lower()
            elif 32 < key < 127:
                name = chr(key).lower()
        if name:
            self._keys.append(name)

    def should_close(self) -> bool:
        return self._closed or bool(self._glfw.window_should_close(self.window))

    def poll(self) -> list[str]:
        self._glfw.poll_events()
        if self._monitors_changed:
            self._follow_monitors()
        keys, self._keys = self._keys, []
        return keys

    def present(self, texture: moderngl.Texture) -> None:
        self.size = tuple(self._glfw.get_framebuffer_size(self.window))
        if self.size[0] > 0 and self.size[1] > 0:  # 0 x 0 while minimised
            self._presenter.draw(self.ctx.screen, self.size, texture)
        self._glfw.swap_buffers(self.window)

    def read(self) -> np.ndarray:
        """The last presented frame, uint8 [H, W, 3], row 0 = top, at its rendered size
        (before letterboxing into the window)."""
        return self._presenter.read()

    def set_fullscreen(self, on: bool, monitor: int | None = None) -> None:
        glfw = self._glfw
        index = self.monitor if monitor is None else monitor
        if on:
            mon = self._monitor(index)  # raises before anything changes
            if not self.fullscreen:
                x, y = glfw.get_window_pos(self.window)
                w, h = glfw.get_window_size(self.window)
                self._windowed = (x, y, w, h)
            mode = glfw.get_video_mode(mon)
            glfw.set_window_monitor(self.window, mon, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
        elif self.fullscreen:
            x, y, w, h = self._windowed
            glfw.set_window_monitor(self.window, None, x, y, w, h, 0)
        self.monitor = index
        self.fullscreen = bool(on)
        self._set_cursor()
        self.size = tuple(glfw.get_framebuffer_size(self.window))

    def set_title(self, title: str) -> None:
        """The window title (the show uses it to show a reload error outside gallery mode)."""
        self._glfw.set_window_title(self.window, title)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._presenter.release()
        self.ctx.release()
        self._glfw.destroy_window(self.window)


def open_window(headless: bool, width: int, height: int, **kw) -> Window:
    """A headless EGL window, or a glfw window (kw: title, fullscreen, monitor, vsync, hide_cursor)."""
    if headless:
        return HeadlessWindow(width, height)
    return GlfwWindow(width, height, **kw)
