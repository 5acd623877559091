"""Guarded steps: an error in one step of a frame is logged once per kind (bounded memory,
no log floods), counted, and the show goes on with the last good frame."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from typing import Callable

log = logging.getLogger("installation.show")

LOG_EVERY_SECONDS = 10.0  # one step logs a new kind of error at most this often (no log floods)


class OnceLog:
    """Which errors were logged already, so each kind is logged once; bounded (LRU), so a show
    that meets a new message every frame for days keeps constant memory."""

    def __init__(self, limit: int = 256):
        self.limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)


def error_key(what: str, e: BaseException) -> str:
    # Numbers in messages (frame counts, sizes, addresses) would make every error new.
    return f"{what}: {type(e).__name__}: {re.sub(r'[0-9]+', '#', str(e))[:200]}"


class Guard:
    """`guard(what, fn, *args)`: run one step; an error is counted, logged once per kind, and
    the step returns None."""

    def __init__(self, stats=None):
        self.stats = stats  # its frame_errors counts every failed step
        self.seen = OnceLog()
        self._last_logged: dict[str, float] = {}  # step -> when it last logged an error

    def __call__(self, what: str, fn: Callable, *args):
        return self.run(what, fn, *args)[1]

    def ok(self, what: str, fn: Callable, *args) -> bool:
        """Run one step; True when it did not fail."""
        return self.run(what, fn, *args)[0]

    def run(self, what: str, fn: Callable, *args) -> tuple[bool, object]:
        try:
            return True, fn(*args)
        except Exception as e:
            if self.stats is not None:
                self.stats.frame_errors += 1
            now = time.monotonic()
            if now - self._last_logged.get(what, -1e9) >= LOG_EVERY_SECONDS and self.seen.first(error_key(what, e)):
                self._last_logged[what] = now
                log.exception("%s failed; the show goes on (further errors like this one are only counted)", what)
            return False, None
