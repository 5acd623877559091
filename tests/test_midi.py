"""MIDI in: [[midi]] mappings and MIDI learn driven with mido messages (everywhere), the real
rtmidi path through a virtual port (where an ALSA sequencer exists), and bad config as one line."""

from __future__ import annotations

import logging
import time

import pytest

mido = pytest.importorskip("mido", reason="mido is the rig extra: pip install -e .[rig]")

from installation.config import ShowConfigError, validate_show  # noqa: E402
from installation.control.midi import MidiInput, MidiMapper, input_names  # noqa: E402
from installation.control.sink import ControlSink  # noqa: E402
from installation.control.wiring import Controls  # noqa: E402
from installation.params import Params  # noqa: E402


def _sink(cfg):
    posted = []
    return ControlSink(Params(cfg), post=lambda name, *args: posted.append((name, args)) or True), posted


def _mapper(*mappings):
    cfg = validate_show({"midi": list(mappings)})
    sink, posted = _sink(cfg)
    return MidiMapper(cfg.midi, sink), sink, posted


def test_a_cc_sets_its_parameter_through_range_and_curve():
    mapper, sink, _ = _mapper({"type": "cc", "number": 7, "target": "warp.swirl", "range": [-2.0, 2.0]},
                              {"type": "cc", "number": 8, "target": "grade.contrast", "range": [0.5, 1.5], "curve": "exp"})
    mapper.handle(mido.Message("control_change", control=7, value=127))
    assert sink.get_target("warp.swirl") == pytest.approx(2.0)
    mapper.handle(mido.Message("control_change", control=7, value=0))
    assert sink.get_target("warp.swirl") == pytest.approx(-2.0)
    mapper.handle(mido.Message("control_change", control=8, value=64))
    x = 64 / 127
    assert sink.get_target("grade.contrast") < 0.5 + x  # exp: below the straight line at mid travel
    assert sink.get_target("grade.contrast") > 0.5


def test_channel_and_number_must_match():
    mapper, sink, _ = _mapper({"type": "cc", "number": 7, "channel": 2, "target": "warp.swirl", "range": [0, 1]})
    before = sink.get_target("warp.swirl")
    mapper.handle(mido.Message("control_change", channel=0, control=7, value=127))  # channel 1
    mapper.handle(mido.Message("control_change", channel=1, control=6, value=127))  # another CC
    assert sink.get_target("warp.swirl") == before
    mapper.handle(mido.Message("control_change", channel=1, control=7, value=127))  # channel 2
    assert sink.get_target("warp.swirl") == pytest.approx(1.0)


def test_pitchbend_and_note_velocity_set_parameters():
    mapper, sink, _ = _mapper({"type": "pitchbend", "target": "warp.swirl_x"},  # no range: the whole 0..1
                              {"type": "note", "number": 60, "target": "feedback.amount", "range": [0.0, 0.8]})
    mapper.handle(mido.Message("pitchwheel", pitch=8191))
    assert sink.get_target("warp.swirl_x") == pytest.approx(1.0)
    mapper.handle(mido.Message("pitchwheel", pitch=-8192))
    assert sink.get_target("warp.swirl_x") == pytest.approx(0.0)
    mapper.handle(mido.Message("note_on", note=60, velocity=127))
    assert sink.get_target("feedback.amount") == pytest.approx(0.8)
    mapper.handle(mido.Message("note_off", note=60))
    assert sink.get_target("feedback.amount") == pytest.approx(0.0)


def test_notes_and_cc_buttons_post_actions_once_per_press():
    mapper, _, posted = _mapper({"type": "note", "number": 36, "action": "cue_next"},
                                {"type": "cc", "number": 20, "action": "record_toggle"},
                                {"type": "cc", "number": 21, "action": "toggle_dream"})
    mapper.handle(mido.Message("note_on", note=36, velocity=100))
    mapper.handle(mido.Message("note_off", note=36))
    for v in (127, 127, 0, 127):  # held high twice counts once; released and pressed again counts
        mapper.handle(mido.Message("control_change", control=20, value=v))
    mapper.handle(mido.Message("control_change", control=21, value=90))
    assert posted == [("cue_next", ()), ("record_toggle", ()), ("record_toggle", ()), ("toggle_dream", ())]


def test_midi_learn_binds_the_next_cc_to_the_parameter_and_logs_it(caplog):
    mapper, sink, _ = _mapper()
    spec = sink.specs["warp.swirl"]
    mapper.handle(mido.Message("control_change", control=30, value=127))  # nothing bound yet
    assert sink.get_target("warp.swirl") != spec.hi
    with caplog.at_level(logging.INFO, logger="installation.control.midi"):
        mapper.learn("/installation/warp/swirl")
        mapper.handle(mido.Message("control_change", channel=3, control=30, value=127))
    assert "cc 30 (channel 4) -> warp.swirl" in caplog.text
    assert sink.get_target("warp.swirl") == pytest.approx(spec.hi)
    mapper.handle(mido.Message("control_change", channel=3, control=30, value=0))
    assert sink.get_target("warp.swirl") == pytest.approx(spec.lo)
    mapper.handle(mido.Message("control_change", channel=3, control=31, value=127))  # learning is over
    assert sink.get_target("warp.swirl") == pytest.approx(spec.lo)


def test_midi_learn_arrives_as_an_action_from_osc_address():
    from installation.actions import BY_ADDRESS

    action = BY_ADDRESS["/installation/midi/learn"]
    assert action.name == "midi_learn"
    assert action.check(["warp.swirl"]) == ("warp.swirl",) and action.check([]) is None


@pytest.mark.parametrize("mapping, message", [
    ({"type": "cc", "number": 1, "target": "warp.nope"}, r"midi\[0\].target: unknown live parameter 'warp.nope'"),
    ({"type": "cc", "number": 1, "action": "jump_to_seed"}, r"midi\[0\].action: 'jump_to_seed' is not an action"),
    ({"type": "cc", "target": "warp.swirl"}, r"midi\[0\].number: a cc needs its number 0-127"),
    ({"type": "cc", "number": 1, "target": "warp.swirl", "action": "cue_next"}, r"midi\[0\]: give exactly one"),
])
def test_a_bad_mapping_is_one_line_before_the_first_frame(mapping, message):
    cfg = validate_show({"osc": {"enabled": False}, "midi": [mapping]})
    sink, _ = _sink(cfg)
    with pytest.raises(ValueError, match=message) as e:
        Controls(cfg, sink, offline=False, status=lambda: {})
    assert "\n" not in str(e.value)


def test_a_cc_outside_0_127_names_the_key():
    with pytest.raises(ShowConfigError, match=r"key 'midi.0.number': .*127"):
        validate_show({"midi": [{"type": "cc", "number": 128, "target": "warp.swirl"}]}, source="s.toml")


def test_an_unknown_port_is_one_line_naming_it():
    cfg = validate_show({"osc": {"enabled": False}})
    sink, _ = _sink(cfg)
    with pytest.raises((ValueError, RuntimeError), match=r"MIDI") as e:
        Controls(cfg, sink, offline=False, status=lambda: {}, midi_port="no such port 42")
    assert "\n" not in str(e.value)
    if isinstance(e.value, ValueError):  # with a MIDI system: the port is named, with the ones there are
        assert "'no such port 42'" in str(e.value)


def test_the_real_rtmidi_path_through_a_virtual_port():
    try:
        out = mido.open_output("installation-test", virtual=True)
    except Exception as e:
        pytest.skip(f"no ALSA sequencer for a virtual MIDI port here: {e}")
    try:
        cfg = validate_show({"midi": [{"type": "cc", "number": 11, "target": "warp.swirl", "range": [0, 4]}]})
        sink, _ = _sink(cfg)
        names = input_names()
        port = next(n for n in names if n.startswith("installation-test"))
        midi_in = MidiInput(port, MidiMapper(cfg.midi, sink))
        try:
            out.send(mido.Message("control_change", control=11, value=127))
            deadline = time.monotonic() + 5
            while sink.get_target("warp.swirl") != pytest.approx(4.0):
                assert time.monotonic() < deadline, "the CC never arrived through rtmidi"
                time.sleep(0.01)
        finally:
            midi_in.stop()
    finally:
        out.close()


def test_a_reload_swaps_the_file_mappings_and_keeps_what_was_learned():
    mapper, sink, _ = _mapper({"type": "cc", "number": 1, "target": "warp.swirl_x"})
    mapper.learn("warp.swirl_y")
    mapper.handle(mido.Message("control_change", control=2, value=0))
    new = validate_show({"midi": [{"type": "cc", "number": 3, "target": "warp.swirl_x"}]}).midi
    mapper.set_mappings(new)
    mapper.handle(mido.Message("control_change", control=1, value=127))  # gone with the old file
    mapper.handle(mido.Message("control_change", control=2, value=127))  # learned: kept
    assert sink.get_target("warp.swirl_x") == pytest.approx(0.5) and sink.get_target("warp.swirl_y") == pytest.approx(1.0)
    mapper.handle(mido.Message("control_change", control=3, value=127))
    assert sink.get_target("warp.swirl_x") == pytest.approx(1.0)


def test_a_show_learns_over_osc_and_serves_its_tree_over_oscquery(tmp_path):
    import json
    import urllib.request

    from pythonosc.udp_client import SimpleUDPClient

    from _tiny_show import write_show
    from installation.config import load_show
    from installation.show import Show, ShowOptions

    cfg = load_show(write_show(tmp_path, osc=True), ["osc.advertise=false"])
    with Show(cfg, ShowOptions(headless=True, offline=False, osc_port=0, query_port=0)) as show:
        SimpleUDPClient("127.0.0.1", show.osc_port).send_message("/installation/midi/learn", "warp.swirl")
        mapper = show.controls.midi.mapper
        deadline = time.monotonic() + 30
        while mapper._learning != "warp.swirl":  # the action runs on the frame loop
            assert time.monotonic() < deadline, "/installation/midi/learn never reached the MIDI mapper"
            show.run(frames=1)
        mapper.handle(mido.Message("control_change", control=5, value=0))
        lo = show.params.specs["warp.swirl"].lo
        url = f"http://127.0.0.1:{show.controls.query_port}/installation/warp/swirl?VALUE"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert json.loads(r.read()) == {"VALUE": [lo]}
