"""Perform live, re-render offline (issue #16 item 5): a headless live `play` steered over real
UDP OSC, recorded and logged (--log), then `render --replay`: the same frames, at any size."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pythonosc.udp_client import SimpleUDPClient

from installation.cli import cli
from installation.performance import FORMAT
from installation.replay import PerformanceError, read_performance
from installation.record import iter_video

from _tiny_show import write_show
from conftest import first_frame_shown
from test_cli_errors import _one_line_error

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # subprocesses run this checkout's package
SIZE = ("--set", "show.width=320", "--set", "show.height=180")
EDITED = "\n[grade]\nhue = 0.25\n"  # appended to the show file while it plays: a hot reload
GRADE_OUT = "frag_color = vec4(clamp(c, 0.0, 1.0), 1.0);"  # grade.frag's last line; edited live
INVERTED = "frag_color = vec4(1.0 - clamp(c, 0.0, 1.0), 1.0);"


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "installation", *map(str, args)]


def _osc_port(lines: list[str]) -> int:
    m = re.search(r"OSC listening on 127\.0\.0\.1:(\d+)", "".join(lines))
    assert m, "".join(lines)[-3000:]
    return int(m.group(1))


def _perform(client: SimpleUDPClient, show: Path, grade: Path) -> None:
    """What a performer does over about 1.6 s: parameters, actions, edits of the show file and a shader."""
    steps = [
        ("/installation/warp/swirl", 2.5), ("/installation/grade/hue", 0.3), ("/installation/keyframe/next", []),
        ("/installation/feedback/amount", 0.85), ("/installation/cue/next", []), ("/installation/latent/speed", 2.0),
        ("/installation/pigment/impulse", [0.3, 0.6, 1.0]), ("/installation/grade/exposure", 0.6),
    ]
    for i, (address, value) in enumerate(steps):
        client.send_message(address, value)
        time.sleep(0.2)
        if i == 2:
            show.write_text(show.read_text(encoding="utf-8") + EDITED, encoding="utf-8")
        if i == 4:
            grade.write_text(grade.read_text(encoding="utf-8").replace(GRADE_OUT, INVERTED), encoding="utf-8")


@pytest.fixture(scope="module")
def performance(tmp_path_factory):
    """One live performance at 320x180: (folder, show file, live take, log)."""
    folder = tmp_path_factory.mktemp("performance")
    show = write_show(folder, fps=30, osc=True, scenes=True, show_extra='shaders = "shaders"')
    grade = shutil.copytree(REPO / "shaders", folder / "shaders") / "grade.frag"
    original = grade.read_text(encoding="utf-8")
    assert GRADE_OUT in original
    take, log = folder / "live.mp4", folder / "performance.jsonl"
    cmd = _cli("play", show, "--headless", "--seconds", 4, "--osc-port", 0, "--record", take, "--log", log, *SIZE)
    with first_frame_shown(cmd, folder, ENV) as (proc, lines):
        _perform(SimpleUDPClient("127.0.0.1", _osc_port(lines)), show, grade)
        stdout = proc.stdout.read()
        assert proc.wait(timeout=120) == 0, "".join(lines)[-3000:]
    grade.write_text(original, encoding="utf-8")  # the replay must take the edit from the log, not the disk
    assert "show file reloaded" in "".join(lines) and "reloaded shader grade.frag" in "".join(lines), \
        "".join(lines)[-3000:]
    assert "recorded" in stdout and "(0 dropped)" in stdout, stdout
    return folder, show, take, log


def _replay(folder: Path, show: Path, log: Path, out: Path, *args) -> str:
    proc = subprocess.run(_cli("render", show, "--replay", log, "--out", out, *args), cwd=folder, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _frames(path: Path) -> tuple[tuple[int, int], list[np.ndarray]]:
    meta, frames = iter_video(path)
    return tuple(meta["size"]), list(frames)


def _mad(a: list[np.ndarray], b: list[np.ndarray]) -> list[float]:
    """Each frame's mean absolute difference, in levels (0-255)."""
    return [float(np.abs(x.astype(np.int16) - y.astype(np.int16)).mean()) for x, y in zip(a, b)]


def test_a_live_performance_replays_frame_for_frame(performance):
    folder, show, take, log = performance
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    header, body = lines[0], lines[1:]
    assert header["format"] == FORMAT and header["overrides"] == list(SIZE[1::2])
    assert EDITED not in header["show"]  # the show as it started; the edit is a logged reload
    assert body[-1] == {"end": len(body) - 1}
    assert any(line.get("pt", {}).get("warp.swirl") == 2.5 for line in body[1:])  # an OSC write
    events = [event[0] for line in body[1:-1] for event in line.get("a", ())]
    assert {"next_keyframe", "cue_next", "pigment_impulse", "reload_show", "shader"} <= set(events), events
    assert any(set(line) == {"k", "t"} for line in body)  # a quiet frame is one short line

    stderr = _replay(folder, show, log, folder / "replay.mp4")
    assert "differs from the show file this performance was played with" in stderr  # the edit
    (live_size, live), (size, replay) = _frames(take), _frames(folder / "replay.mp4")
    assert live_size == size == (320, 180)
    assert abs(len(live) - len(replay)) <= 1 and len(live) > 60
    mad = _mad(live, replay)
    print(f"\nlive {len(live)} frames, replay {len(replay)}; per-frame MAD max {max(mad):.3f}, "
          f"mean {np.mean(mad):.3f} levels")
    assert max(mad) <= 3.0, mad
    assert live[-1].mean() > 10  # a picture, not black frames that match trivially


def test_the_log_drives_the_replay(performance, tmp_path):
    """Without the logged OSC writes the replay is a different picture: the test above can fail."""
    folder, show, take, log = performance
    lines = log.read_text(encoding="utf-8").splitlines()
    kept = [lines[0], lines[1]]
    for line in lines[2:]:
        obj = json.loads(line)
        for key in ("pt", "pc", "pj"):
            obj.pop(key, None)
        kept.append(json.dumps(obj))
    quiet = tmp_path / "quiet.jsonl"
    quiet.write_text("\n".join(kept) + "\n", encoding="utf-8")
    _replay(folder, show, quiet, tmp_path / "quiet.mp4")
    (_, live), (_, replay) = _frames(take), _frames(tmp_path / "quiet.mp4")
    assert max(_mad(live, replay)) > 3.0


def test_a_performance_replays_at_another_size(performance, tmp_path):
    folder, show, take, log = performance
    out = tmp_path / "small.mp4"
    _replay(folder, show, log, out, "--set", "show.width=96", "--set", "show.height=54")
    (_, live), (size, replay) = _frames(take), _frames(out)
    assert size == (96, 54)
    assert abs(len(live) - len(replay)) <= 1


# --- logs that cannot be replayed: one clear line ---------------------------------------------


def _render(tmp_path, log: Path, *args):
    show = write_show(tmp_path)
    result = CliRunner().invoke(cli, ["render", str(show), "--replay", str(log), "--out", str(tmp_path / "o.mp4"),
                                      *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result


def _header(**changes) -> str:
    h = {"format": FORMAT, "version": 1, "installation": "0.1.0", "show_path": "show.toml", "show": "", "overrides": [],
         "seed": 0, "width": 32, "height": 24, "fps": 10.0, **changes}
    return json.dumps(h) + "\n"


@pytest.mark.parametrize("text, named", [
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "not a performance log"),  # an mp4 given by mistake
    (b'{"frames": [1, 2, 3]}\n', "not a performance log"),  # someone else's JSON
    (_header()[:40].encode(), "not a performance log"),  # cut off inside the header
    (_header(version=7).encode(), "newer installation"),
    (_header(seed="zero").encode(), "'seed'"),
    (_header().encode() + b'{"k":0,"t":0.0}\n{"k":5,"t":0.1}\n{"end":2}\n', "perf.jsonl:3: damaged line (frame 5"),
    (_header().encode() + b'{"k":0,"t":0.0}\n{"k":1,"t"\n{"k":2,"t":0.2}\n', "perf.jsonl:3: damaged line (not JSON)"),
    (_header().encode() + b'{"k":0,"t":0.0,"c":[4]}\n', "'c' names a frame"),
    (_header().encode() + b'{"end":0}\n', "holds no frames"),
], ids=["mp4", "foreign-json", "cut-header", "newer", "bad-header-field", "frame-skipped", "bad-line", "bad-content",
        "no-frames"])
def test_a_bad_log_is_one_clear_line(tmp_path, text, named):
    log = tmp_path / "perf.jsonl"
    log.write_bytes(text)
    _one_line_error(_render(tmp_path, log), named)


def test_a_replay_keeps_the_performances_fps_and_length(tmp_path):
    log = tmp_path / "perf.jsonl"
    log.write_text(_header(show="[show]\nfps = 10\n") + '{"k":0,"t":0.0}\n{"end":1}\n', encoding="utf-8")
    _one_line_error(_render(tmp_path, log, "--set", "show.fps=60"), "show.fps = 10.0")
    _one_line_error(_render(tmp_path, log, "--seconds", "3"), "--seconds")


def test_a_log_cut_short_by_a_crash_replays_what_it_holds(tmp_path):
    log = tmp_path / "perf.jsonl"
    log.write_text(_header() + '{"k":0,"t":0.0}\n{"k":1,"t":0.1}\n{"k":2,"t":0.', encoding="utf-8")
    perf = read_performance(log)
    assert len(perf.frames) == 2 and not perf.complete
    log.write_text('{"k":0,"t":0.0}\n', encoding="utf-8")  # frames without their header
    with pytest.raises(PerformanceError, match="not a performance log"):
        read_performance(log)


def test_play_help_names_log():
    result = CliRunner().invoke(cli, ["play", "--help"])
    assert result.exit_code == 0 and "--log" in result.output and "--replay" in result.output


# --- content frames made but never shown (a live dreamer carries state from one to the next) ---


def test_take_names_every_frame_made_since_the_last_take():
    import torch

    from installation.content import ContentWorker
    from installation.live import Frame
    from installation.models.checkpoint import load_generator
    from conftest import wait_for

    G = load_generator("random:3:16", torch.device("cpu"))
    worker = ContentWorker(G, "const", threads=1)
    worker.start()
    try:
        w = G.mapping(torch.randn(1, G.z_dim), None)
        first = worker.submit(w, Frame.defaults(), False)
        assert wait_for(lambda: worker.frames_made == 1, 60)
        second = worker.submit(w, Frame.defaults(), False)
        assert wait_for(lambda: worker.frames_made == 2, 60)
        made: list[int] = []
        frame = worker.take(made)
        assert made == [first, second] and frame.serial == second  # the first was made, never shown
        assert worker.take(made) is None and made == [first, second]
    finally:
        worker.stop()


def test_a_replay_makes_the_unshown_frames_too_in_their_order(tmp_path):
    from installation.replay import Replay

    log = tmp_path / "perf.jsonl"
    log.write_text(_header() + '{"k":0,"t":0.0}\n{"k":1,"t":0.1}\n{"k":2,"t":0.2,"c":[0,1]}\n{"end":3}\n',
                   encoding="utf-8")
    replay, produced = Replay(read_performance(log)), []

    class Worker:
        def produce(self, req):
            produced.append(req)
            return f"frame of {req}"

    shown = []
    for k, t in enumerate((0.0, 0.1, 0.2)):
        assert replay.begin(t) == []
        shown.append(replay.content(f"request {k}", Worker(), lambda what, fn, *args: fn(*args)))
    assert produced == ["request 0", "request 1"]  # in the live order: a dreamer's state follows them
    assert shown == [None, None, "frame of request 1"]


# --- live audio: what the show heard is kept beside the log and muxed into the replay ----------


def test_live_audio_is_kept_beside_the_log_and_muxed_into_the_replay(tmp_path, monkeypatch):
    """Live input drives the picture (mappings, band motion, onsets); the replay takes the logged
    features, so it matches the live take, and the sound the show heard is in it."""
    from installation.config import load_show
    from installation.control.audio_input import LiveAudioInput, decode_audio
    from installation.show import Show, ShowOptions

    heard = {"at": None, "samples": 0}

    def read(self):  # the input since the last read: a 440 Hz tone, loud and soft by turns (no sound card here)
        now = time.monotonic()
        count = 0 if heard["at"] is None else round((now - heard["at"]) * 44100)
        n = np.arange(heard["samples"], heard["samples"] + count)
        heard["at"], heard["samples"] = now, heard["samples"] + count
        loud = np.where((n // 13230) % 2 == 1, 0.8, 0.05)  # 0.3 s each
        return (loud * np.sin(2 * np.pi * 440 * n / 44100)).astype(np.float32)

    monkeypatch.setattr(LiveAudioInput, "start", lambda self: self)
    monkeypatch.setattr(LiveAudioInput, "read", read)
    show = write_show(tmp_path, fps=30, extra="\n[audio]\nenabled = true\nband_motion = 1.5\nonset_push = 0.3\n"
                      '[[mappings]]\nsource = "audio.rms"\ntarget = "warp.swirl"\nrange = [0.0, 3.0]\n')
    log, take = tmp_path / "perf.jsonl", tmp_path / "live.mp4"
    with Show(load_show(show), ShowOptions(headless=True, offline=False, log=log, record=take), show_path=show) as live:
        live.run(frames=30)
    perf = read_performance(log)
    assert perf.audio_file == tmp_path / "perf.wav"
    assert sum("f" in line for line in perf.frames) > 20  # the features are logged
    sound = decode_audio(perf.audio_file)
    assert len(sound) / 44100 == pytest.approx(perf.frames[-1]["t"], abs=0.15)  # from the first frame on
    assert 0.2 < float(np.sqrt(np.mean(sound ** 2))) < 0.5

    out = tmp_path / "replay.mp4"
    result = CliRunner().invoke(cli, ["render", str(show), "--replay", str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (_, frames), (_, replay) = _frames(take), _frames(out)
    mad = _mad(frames, replay)
    print(f"\nlive audio: live {len(frames)} frames, replay {len(replay)}; MAD max {max(mad):.3f} levels; "
          f"frames differ from the first by up to {max(_mad(frames, frames[:1] * len(frames))):.1f}")
    assert abs(len(frames) - len(replay)) <= 1 and max(mad) <= 3.0
    assert float(np.sqrt(np.mean(decode_audio(out) ** 2))) > 0.1  # the tone is in the take
