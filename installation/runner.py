"""Entry points behind `installation play` and `installation render`: build a Show from a
show file, run it, and always finalise what it recorded, also on SIGINT / SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from installation.config import load_show
from installation.show import Show, ShowOptions, ShowStats

log = logging.getLogger(__name__)


class ShowSetupError(RuntimeError):
    """The show could not start (bad checkpoint, keyframe file, shader...); nothing ran."""


class SetupInterrupted(BaseException):
    """SIGINT / SIGTERM while the show was being built: set-up stops at once (what was opened is
    released by Show's own clean-up); nothing was played or recorded. BaseException, like
    KeyboardInterrupt, so no `except Exception` in the set-up code swallows it."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum} during set-up")
        self.signum = signum


class StopSignals:
    """What SIGINT / SIGTERM ask for. While the show is being built (no show attached yet), the
    first one interrupts the set-up (SetupInterrupted). Once it plays, the first one stops the
    show after the current frame; later ones only say that the recording is being finished, so
    a file is never cut short by an impatient Ctrl-C."""

    def __init__(self, show: Show | None = None):
        self.show = show
        self.count = 0
        self.signum: int | None = None  # the first signal received

    def attach(self, show: Show) -> None:
        self.show = show
        if self.count:
            show.request_stop()

    def __call__(self, signum, _frame) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.show is None and self.count == 1:
            log.warning("signal %d during set-up: stopping before the first frame", signum)
            raise SetupInterrupted(signum)
        if self.count == 1:
            log.warning("signal %d: stopping after this frame (the recording is finalised)", signum)
        else:
            log.warning("signal %d: finishing the recording, please wait", signum)
        if self.show is not None:
            self.show.request_stop()


@contextmanager
def stop_on_signals(show: Show | None = None):
    """Within the block, SIGINT/SIGTERM end the loop after the current frame, so the
    recording is finalised; keep the block around `close()` too. Yields the StopSignals."""
    state = StopSignals(show)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, state)
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def run_show(
    show_file: Path,
    overrides: tuple[str, ...] = (),
    *,
    options: ShowOptions,
    seconds: float | None = None,
    frames: int | None = None,
) -> ShowStats:
    perf = options.replay  # render --replay: the show as it was played, its length the performance's
    try:
        cfg = load_show(show_file, overrides) if perf is None else perf.config(show_file, tuple(overrides))
    except ValueError as e:  # ShowConfigError (e.g. the file was edited since the command read it)
        raise ShowSetupError(str(e)) from None
    if perf is not None:
        overrides, frames, seconds = perf.overrides(tuple(overrides)), len(perf.frames), None
    options = replace(options, overrides=tuple(overrides))  # a hot reload applies them again
    from installation.render.shaders import ShaderError

    with stop_on_signals() as signals:
        try:
            show = Show(cfg, options, show_path=Path(show_file))
        except (ValueError, OSError, RuntimeError, ShaderError) as e:  # bad input: fail before the first frame
            raise ShowSetupError(f"{show_file}: cannot start the show: {e}") from e
        signals.attach(show)
        try:
            show.run(frames=frames, seconds=seconds)
        finally:
            stats = show.close()  # still inside the block: a second signal cannot cut it short
        stats.interrupted_by = signals.signum
    return stats
