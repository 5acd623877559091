"""MIDI in: [[midi]] mappings (CC / note / pitch-bend -> a live parameter or an action), MIDI learn, the input port.

`MidiMapper` turns mido messages into sink writes; it is plain Python, so tests drive it with
mido messages anywhere. `MidiInput` opens a port through mido's rtmidi backend, whose callback
thread calls the mapper (the sink is thread-safe). Everything is checked before the first frame.
"""

from __future__ import annotations

import logging
import threading

from installation.actions import BY_NAME
from installation.config import MidiMapping
from installation.control.mappings import apply_curve

log = logging.getLogger(__name__)

ACTION_THRESHOLD = 64  # a CC runs its action when it rises to this (buttons send 127 / 0)


def action_takes_no_args(name: str) -> bool:
    action = BY_NAME.get(name)
    return action is not None and action.check([]) is not None


def check_mapping(i: int, m: MidiMapping, specs) -> None:
    """Raise ValueError naming midi[i] for a mapping that cannot run."""
    where = f"midi[{i}]"
    if (m.target is None) == (m.action is None):
        raise ValueError(f"{where}: give exactly one of target (a live parameter) or action")
    if m.target is not None and m.target not in specs:
        raise ValueError(f"{where}.target: unknown live parameter {m.target!r} (e.g. 'warp.swirl')")
    if m.action is not None and not action_takes_no_args(m.action):
        raise ValueError(f"{where}.action: {m.action!r} is not an action without arguments "
                         "(e.g. 'cue_next', 'record_toggle', 'toggle_dream')")
    if m.type == "pitchbend":
        if m.number is not None:
            raise ValueError(f"{where}.number: pitchbend has no number")
    elif m.number is None:
        raise ValueError(f"{where}.number: a {m.type} needs its number 0-127")


def resolve_parameter(name: str, specs) -> str | None:
    """'warp.swirl' or '/installation/warp/swirl' -> 'warp.swirl', or None."""
    if name in specs:
        return name
    for key, spec in specs.items():
        if spec.address == name:
            return key
    return None


def _control(msg) -> tuple[str, int | None, float] | None:
    """A mido message -> (type, number, value in [0, 1]), or None for messages nobody maps."""
    if msg.type == "control_change":
        return "cc", msg.control, msg.value / 127.0
    if msg.type == "note_on":
        return "note", msg.note, msg.velocity / 127.0  # velocity 0 is a note off
    if msg.type == "note_off":
        return "note", msg.note, 0.0
    if msg.type == "pitchwheel":
        return "pitchbend", None, (msg.pitch + 8192) / 16383.0
    return None


class MidiMapper:
    """Mappings -> sink writes; `learn(parameter)` binds the next CC or note that moves to it."""

    def __init__(self, mappings: list[MidiMapping], sink):
        self.sink = sink
        for i, m in enumerate(mappings):
            check_mapping(i, m, sink.specs)
        self.mappings = list(mappings)
        self.learned: list[MidiMapping] = []  # bound by MIDI learn: kept across reloads, ahead of the file's
        self._learning: str | None = None
        self._high: set[tuple] = set()  # CCs above ACTION_THRESHOLD: an action fires on the way up only
        self._lock = threading.Lock()  # learn() on the frame loop, handle() on the MIDI thread

    def set_mappings(self, mappings: list[MidiMapping]) -> None:
        for i, m in enumerate(mappings):
            check_mapping(i, m, self.sink.specs)
        with self._lock:
            self.mappings = [m for m in mappings if not any(_same_control(m, b) for b in self.learned)] + self.learned

    def learn(self, parameter: str) -> None:
        key = resolve_parameter(parameter, self.sink.specs)
        if key is None:
            log.warning("MIDI learn: unknown live parameter %r (e.g. 'warp.swirl')", parameter)
            return
        with self._lock:
            self._learning = key
        log.info("MIDI learn: move a control to bind it to %s", key)

    def handle(self, msg) -> None:
        control = _control(msg)
        if control is None:
            return
        kind, number, x = control
        channel = getattr(msg, "channel", 0) + 1
        with self._lock:
            if self._learning is not None and kind in ("cc", "note"):
                m = MidiMapping(type=kind, number=number, channel=channel, target=self._learning)
                self.mappings = [old for old in self.mappings if not _same_control(old, m)] + [m]
                self.learned = [old for old in self.learned if not _same_control(old, m)] + [m]
                self._learning = None
                log.info("MIDI learn: %s %d (channel %d) -> %s", kind, number, channel, m.target)
            mappings = list(self.mappings)
        for m in mappings:
            if m.type != kind or (m.number is not None and m.number != number) or (
                    m.channel is not None and m.channel != channel):
                continue
            if m.target is not None:
                lo, hi = m.range or self._range(m.target)
                self.sink.set(m.target, lo + (hi - lo) * apply_curve(x, m.curve))
            elif self._rises(m, msg, kind, number, channel, x):
                self.sink.post(m.action)

    def _range(self, key: str) -> tuple[float, float]:
        spec = self.sink.specs[key]
        return spec.lo, spec.hi

    def _rises(self, m, msg, kind, number, channel, x) -> bool:
        if kind == "note":
            return msg.type == "note_on" and msg.velocity > 0
        ident = (kind, number, channel)
        high = x * 127.0 >= ACTION_THRESHOLD
        was = ident in self._high
        if high:
            self._high.add(ident)
        else:
            self._high.discard(ident)
        return high and not was


def _same_control(a: MidiMapping, b: MidiMapping) -> bool:
    return a.type == b.type and a.number == b.number and a.channel in (None, b.channel)


def input_names() -> list[str]:
    """The MIDI input ports; raises RuntimeError (one line) where there is no MIDI system."""
    import mido

    try:
        return list(mido.get_input_names())
    except Exception as e:  # rtmidi without an ALSA sequencer (/dev/snd/seq) raises a SystemError
        raise RuntimeError(f"MIDI: no MIDI system here ({e})") from None


class MidiInput:
    """An open input port whose messages go to a MidiMapper (on rtmidi's thread)."""

    def __init__(self, port: str, mapper: MidiMapper):
        import mido

        names = input_names()
        if port not in names:
            matches = [n for n in names if n.startswith(port)]  # ALSA names end in ' 20:0', which changes
            if len(matches) != 1:
                raise ValueError(f"--midi: no MIDI input port {port!r} (ports: {', '.join(names) or 'none'})")
            port = matches[0]
        self.mapper = mapper
        self.port = mido.open_input(port, callback=self._receive)
        log.info("MIDI input: %s", port)

    def _receive(self, msg) -> None:
        try:
            self.mapper.handle(msg)
        except Exception:  # rtmidi's thread must survive any message
            log.warning("MIDI: error handling %s", msg, exc_info=True)

    def stop(self) -> None:
        self.port.close()
