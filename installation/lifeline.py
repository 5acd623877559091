"""Last words: what must still happen when the process is about to end abruptly.

Some endings skip Python's normal unwinding: losing the X display makes Xlib call exit() from
inside a C call (and Mesa may crash on the way out), so no `finally:` block runs and a recording
would be left as a hidden `.partial`. Parts that own something worth saving (recordings) register
a hook here; the code that sees the abrupt end (the window's X I/O error handler) runs every hook,
once, then ends the process itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

_hooks: dict[int, Callable[[str], None]] = {}
_lock = threading.Lock()
_next_id = 0


def register(hook: Callable[[str], None]) -> int:
    """Run hook(reason) if the process ends abruptly; returns a token for `unregister`."""
    global _next_id
    with _lock:
        _next_id += 1
        _hooks[_next_id] = hook
        return _next_id


def unregister(token: int) -> None:
    with _lock:
        _hooks.pop(token, None)


def last_words(reason: str) -> None:
    """Run (and forget) every registered hook, newest first; a failing hook does not stop the others."""
    with _lock:
        hooks = list(_hooks.values())[::-1]
        _hooks.clear()
    for hook in hooks:
        try:
            hook(reason)
        except Exception:  # noqa: BLE001 - the process is ending: save what else can be saved
            log.exception("%s: a last-words hook failed", reason)
