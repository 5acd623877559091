"""Show actions: the one table (name, OSC address, arguments, keys, docs) and the one queue.

Keys, OSC, MIDI and cues all post the same actions by name; the frame loop drains
the queue once a frame and runs each through one handler table. OSC addresses and the
README's action list are derived from `ACTIONS`, so there is nothing to keep in step.
"""

from __future__ import annotations

import logging
import math
import queue
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

PREFIX = "/installation"
QUEUE_SIZE = 256  # actions waiting for the frame loop; more are dropped and counted
PER_FRAME = 16  # a flood of actions costs a frame at most this many
THROTTLE_SECONDS = 0.2  # a throttled action runs at most this often (show time)


def _no_args(args: list) -> tuple | None:
    return () if not args else None


def _one_int(args: list) -> tuple | None:
    if len(args) != 1 or isinstance(args[0], bool):
        return None
    v = args[0]
    if isinstance(v, int):
        return (v,)
    if isinstance(v, float) and math.isfinite(v) and v == int(v):  # 7.0 from float-only controllers
        return (int(v),)
    return None


def _name_or_index(args: list) -> tuple | None:
    if len(args) != 1 or isinstance(args[0], bool):
        return None
    v = args[0]
    if isinstance(v, str) and v:
        return (v,)
    return _one_int(args)


def _one_string(args: list) -> tuple | None:
    return (args[0],) if len(args) == 1 and isinstance(args[0], str) and args[0] else None


def _optional_path(args: list) -> tuple | None:
    if not args:
        return ()
    if len(args) == 1 and isinstance(args[0], str) and args[0]:
        return (args[0],)
    return None


def _impulse(args: list) -> tuple | None:
    """x y [strength]: uv of the push (0..1, (0, 0) bottom-left) and its speed in output heights per second."""
    if len(args) not in (2, 3) or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in args):
        return None
    x, y = (min(max(float(v), 0.0), 1.0) for v in args[:2])
    strength = min(max(float(args[2]), -4.0), 4.0) if len(args) == 3 else 0.5
    return (x, y, strength)


@dataclass(frozen=True)
class Action:
    name: str  # what is posted, and the handler's key
    address: str | None  # OSC address (None: not reachable over OSC)
    args: str  # what the action takes, as shown in the docs
    doc: str
    check: Callable[[list], tuple | None] = _no_args  # OSC args -> handler args, or None when wrong
    # Of these only the newest of a frame runs: a flood of jumps or cue changes then costs one
    # a frame (within a frame's 30-50 ms nobody can tell two cue presses from one).
    last_only: bool = False
    # These cost the mapping network or a new path: at most one every THROTTLE_SECONDS.
    throttled: bool = False


ACTIONS: tuple[Action, ...] = (
    Action("next_keyframe", PREFIX + "/keyframe/next", "", "Glide to the next keyframe."),
    Action("previous_keyframe", PREFIX + "/keyframe/previous", "", "Glide to the previous keyframe."),
    Action("jump_to_seed", PREFIX + "/keyframe/seed", "<int>", "Crossfade to the keyframe of this seed.", _one_int,
           last_only=True, throttled=True),
    Action("scene", PREFIX + "/scene", "<name or index>", "Crossfade to a scene of the show.", _name_or_index,
           last_only=True, throttled=True),
    Action("cue_next", PREFIX + "/cue/next", "", "Go to the next cue.", last_only=True, throttled=True),
    Action("cue_previous", PREFIX + "/cue/previous", "", "Go to the previous cue.", last_only=True, throttled=True),
    Action("record_start", PREFIX + "/record/start", "[name.mp4]",
           "Start recording (to the show's record path, or this bare file name in its folder).", _optional_path,
           last_only=True),
    Action("record_stop", PREFIX + "/record/stop", "", "Stop recording and finalise the file.", last_only=True),
    Action("reload_show", PREFIX + "/show/reload", "", "Read the show file again and apply it.", last_only=True),
    Action("toggle_dream", PREFIX + "/dream/toggle", "", "Turn live DeepDream on or off.", last_only=True),
    Action("midi_learn", PREFIX + "/midi/learn", "<parameter>",
           "Bind the next MIDI CC or note that moves to this live parameter ('warp.swirl' or its address).",
           _one_string),
    Action("pigment_impulse", PREFIX + "/pigment/impulse", "<x> <y> [strength]",
           "Push the pigment outward from (x, y) (0..1, bottom-left origin) at strength output heights per second "
           "(default 0.5; at most 8 a frame count).", _impulse),
    # Keys only: local to the machine the window is on.
    Action("go_to_cue", None, "<index>", "Go to cue `index` (keys 1-9).", _one_int),
    Action("step_next", None, "", "Next cue; without cues the next keyframe."),
    Action("step_previous", None, "", "Previous cue; without cues the previous keyframe."),
    Action("record_toggle", None, "", "Start or stop recording."),
    Action("fullscreen", None, "", "Window fullscreen on or off."),
    Action("screenshot", None, "", "Save the window as a PNG in the working directory."),
    Action("quit", None, "", "End the show (gallery mode: a second Esc within 2 s)."),
)
BY_NAME = {a.name: a for a in ACTIONS}
BY_ADDRESS = {a.address: a for a in ACTIONS if a.address is not None}

# Window keys -> (action, args).
KEYS: dict[str, tuple[str, tuple]] = {
    "escape": ("quit", ()),
    "space": ("next_keyframe", ()),
    "backspace": ("previous_keyframe", ()),
    **{k: ("step_next", ()) for k in ("right", "page_down", "n")},
    **{k: ("step_previous", ()) for k in ("left", "page_up", "p")},
    **{str(i): ("go_to_cue", (i - 1,)) for i in range(1, 10)},
    "d": ("toggle_dream", ()),
    "f": ("fullscreen", ()),
    "r": ("record_toggle", ()),
    "s": ("screenshot", ()),
}


class ActionQueue:
    """Thread-safe posting (never blocks; a full queue drops and counts), drained by the frame loop."""

    def __init__(self, size: int = QUEUE_SIZE, on_post: Callable[[], None] | None = None, stats=None):
        self._queue: queue.Queue[tuple[str, tuple]] = queue.Queue(maxsize=size)
        self.on_post = on_post  # e.g. wake the frame loop
        self.stats = stats  # its actions_dropped counts what a full queue dropped
        self.dropped = 0
        self._deferred: dict[str, tuple] = {}  # throttled action -> its newest arguments
        self._throttled_at: dict[str, float] = {}  # throttled action -> show time it last ran

    def post(self, name: str, *args) -> bool:
        try:
            self._queue.put_nowait((name, args))
        except queue.Full:
            self.dropped += 1
            if self.stats is not None:
                self.stats.actions_dropped += 1
            return False
        if self.on_post is not None:
            self.on_post()
        return True

    def drain(self, t: float) -> list[tuple[str, tuple]]:
        """The actions to run now, in order (at most PER_FRAME taken from the queue). Of the
        last_only kinds only the newest of a frame; a throttled kind that ran less than
        THROTTLE_SECONDS ago waits (its newest arguments) for a later frame."""
        batch = []
        while len(batch) < PER_FRAME:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        last = {name: i for i, (name, _) in enumerate(batch) if name in BY_NAME and BY_NAME[name].last_only}
        batch = [a for i, a in enumerate(batch) if last.get(a[0], i) == i]
        out = []
        for name, args in [*self._deferred.items(), *batch]:
            action = BY_NAME.get(name)
            if action is not None and action.throttled:
                if t - self._throttled_at.get(name, -1e9) < THROTTLE_SECONDS:
                    self._deferred[name] = args  # the newest waits
                    continue
                self._deferred.pop(name, None)
                self._throttled_at[name] = t
            out.append((name, args))
        return out
