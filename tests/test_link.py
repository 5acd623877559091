"""Ableton Link: two real Link peers on loopback (LinkPython-extern) agree on the tempo, and our
Link control publishes a peer's tempo and beat as the beat features; the precedence and the beat
pulse against a stand-in clock (exact time); a missing package is one line."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import wait_for

from installation.config import LinkSection, validate_show
from installation.control.audio_features import TEMPO_MAX, TEMPO_MIN
from installation.control.sink import ControlSink
from installation.control.wiring import Controls
from installation.params import Params

DISCOVERY_S = 20.0  # a generous bound for Link's discovery on loopback, not a timing assertion


def _real_link():
    return pytest.importorskip("link", reason="LinkPython-extern is not installed (pip install 'installation[rig]')")


def _set_tempo(peer, bpm: float) -> None:
    state = peer.captureAppSessionState()
    state.setTempo(bpm, peer.clock().micros())
    peer.commitAppSessionState(state)


@pytest.fixture
def peer():
    """A second Link peer, as the band's laptop would be."""
    link = _real_link()
    other = link.Link(120.0)
    other.enabled = True
    yield other
    other.enabled = False


def test_two_link_peers_on_loopback_agree_on_the_tempo(peer):
    link = _real_link()
    ours = link.Link(100.0)
    ours.enabled = True
    try:
        assert wait_for(lambda: ours.numPeers() >= 1 and peer.numPeers() >= 1, DISCOVERY_S), "the peers never met"
        _set_tempo(peer, 137.0)
        # Link carries the tempo as microseconds per beat: equal to a hundredth of a bpm.
        assert wait_for(lambda: abs(ours.captureAppSessionState().tempo() - 137.0) < 0.01, DISCOVERY_S)
    finally:
        ours.enabled = False


def test_our_link_control_publishes_a_peers_tempo_and_beat(peer):
    cfg = validate_show({"osc": {"enabled": False}, "link": {"enabled": True, "tempo": 100.0}})
    sink = ControlSink(Params(cfg), post=lambda *a: True)
    controls = Controls(cfg, sink, offline=False, status=lambda: {})
    try:
        assert wait_for(lambda: controls.link.peers >= 1, DISCOVERY_S), "the peers never met"
        _set_tempo(peer, 150.0)

        def arrived() -> bool:
            controls.update(0.0, 1 / 30)
            return abs(sink.features().get("audio.tempo", 0.0) - 150.0) < 0.01

        assert wait_for(arrived, DISCOVERY_S)
        f = sink.features()
        assert f["audio.tempo_norm"] == pytest.approx((f["audio.tempo"] - TEMPO_MIN) / (TEMPO_MAX - TEMPO_MIN))
        assert 0.0 <= f["audio.beat"] < 1.0 and f["audio.beat_pulse"] in (0.0, 1.0)
    finally:
        controls.stop()


def test_an_offline_render_does_not_join_link(peer):
    cfg = validate_show({"osc": {"enabled": False}, "link": {"enabled": True}})
    controls = Controls(cfg, ControlSink(Params(cfg), post=lambda *a: True), offline=True, status=lambda: {})
    assert controls.link is None  # a frame-exact render repeats: no outside clock steers it


# -- the precedence and the beat pulse, against a stand-in Link whose clock the test sets ----------


class _StandInLink:
    """LinkPython's surface as LinkClock uses it; time in microseconds, set by the test."""

    def __init__(self, bpm: float):
        self.bpm, self.now, self.peers, self.enabled = bpm, 0, 0, False

    def numPeers(self):
        return self.peers

    def clock(self):
        return types.SimpleNamespace(micros=lambda: self.now)

    def captureAppSessionState(self):
        return types.SimpleNamespace(tempo=lambda: self.bpm,
                                     beatAtTime=lambda t, quantum: t * self.bpm / 60e6)


@pytest.fixture
def stand_in(monkeypatch):
    made = []
    module = types.SimpleNamespace(Link=lambda bpm: made.append(_StandInLink(bpm)) or made[-1])
    monkeypatch.setitem(sys.modules, "link", module)
    from installation.control.link import LinkClock

    clock = LinkClock(LinkSection(enabled=True, tempo=120.0))
    return clock, made[0]


def test_the_beat_pulse_fires_once_per_beat_crossed(stand_in):
    clock, link = stand_in
    pulses, phases = [], []
    for k in range(12):  # 120 bpm = a beat every 0.5 s; frames every 0.2 s
        link.now = k * 200_000
        f = clock.features()
        pulses.append(f["audio.beat_pulse"])
        phases.append(f["audio.beat"])
    assert pulses == [0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0]  # beats at 0.5, 1.0, 1.5 and 2.0 s
    assert phases[3] == pytest.approx(0.2) and phases[8] == pytest.approx(0.2)


def test_link_leads_with_a_peer_and_audio_leads_alone(stand_in):
    clock, link = stand_in
    audio = {"audio.tempo": 97.0, "audio.beat": 0.9, "audio.rms": 0.5}
    assert clock.over(audio) == audio  # alone: the audio's own beat tracking
    assert clock.over({"audio.rms": 0.5})["audio.tempo"] == 120.0  # alone without audio: Link's clock
    link.peers = 1
    led = clock.over(audio)
    assert led["audio.tempo"] == 120.0 and led["audio.rms"] == 0.5  # with the band: Link's beat


def test_link_without_its_package_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "link", None)  # import link -> ImportError
    cfg = validate_show({"osc": {"enabled": False}, "link": {"enabled": True}})
    with pytest.raises(RuntimeError, match=r"LinkPython-extern") as e:
        Controls(cfg, ControlSink(Params(cfg), post=lambda *a: True), offline=False, status=lambda: {})
    assert "\n" not in str(e.value)
