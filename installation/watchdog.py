"""The watchdog: a content worker that died, or made no frame (nor failed one) for a while
although it was asked, is replaced by a new one; the last good frame stays up meanwhile."""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("installation.show")


class Watchdog:
    def __init__(self, seconds: float, seen, stats, now: float = 0.0):
        self.seconds = seconds
        self.seen = seen  # a guard.OnceLog: each kind of failure is logged once
        self.stats = stats  # its worker_restarts counts the replacements
        self.reset(now)

    def reset(self, now: float) -> None:
        self._progress, self._since = None, now

    def check(self, worker, now: float, replace: Callable[[], object]):
        """The worker to use from now on: `worker`, or a new one from replace() (already
        started; the old one is abandoned, not joined)."""
        progress = (id(worker), worker.frames_made, worker.errors)
        if progress != self._progress:
            self._progress, self._since = progress, now
        if worker.alive and now - self._since <= self.seconds:
            return worker
        why = "died" if not worker.alive else f"made no frame for {now - self._since:.0f} s"
        if self.seen.first(f"worker {why.split()[0]}"):
            log.error("content worker %s; starting a new one (the last frame stays meanwhile)", why)
        worker.stop(timeout=0)
        new = replace()
        new.start()
        self.stats.worker_restarts += 1
        self.reset(now)
        return new
