"""Entry points behind `installation play` and `installation render`: build a Show from a
show file, run it, and always finalise what it recorded, also on SIGINT / SIGTERM."""

from __future__ import annotations

import logging
import signal
from contextlib import contextmanager
from pathlib import Path

from installation.config import load_show
from installation.show import Show, ShowOptions, ShowStats

log = logging.getLogger(__name__)


class ShowSetupError(RuntimeError):
    """The show could not start (bad checkpoint, keyframe file, shader...); nothing ran."""


@contextmanager
def stop_on_signals(show: Show):
    """SIGINT/SIGTERM end the loop after the current frame, so the recording is finalised."""
    previous = {}

    def handler(signum, _frame):
        log.warning("signal %d: stopping after this frame", signum)
        show.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_show(
    show_file: Path,
    overrides: tuple[str, ...] = (),
    *,
    options: ShowOptions,
    seconds: float | None = None,
    frames: int | None = None,
) -> ShowStats:
    cfg = load_show(show_file, overrides)
    try:
        show = Show(cfg, options, show_path=Path(show_file))
    except (ValueError, OSError, RuntimeError) as e:  # bad input: fail before the first frame
        raise ShowSetupError(f"{show_file}: cannot start the show: {e}") from e
    try:
        with stop_on_signals(show):
            show.run(frames=frames, seconds=seconds)
    finally:
        stats = show.close()
    return stats
