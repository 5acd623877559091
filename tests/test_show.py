"""The show end to end, headless: show file -> generator -> shader chain -> mp4."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from _tiny_show import write_show

from installation.cli import cli
from installation.config import ShowConfigError, load_show
from installation.record import read_video
from installation.show import Show, ShowOptions


def tiny_show(tmp_path: Path, extra=()) -> tuple[Path, list[str]]:
    """The tiny show file (tests/_tiny_show.py) and these --set overrides."""
    return write_show(tmp_path), list(extra)


def render_frames(tmp_path, frames=12, extra=()):
    path, overrides = tiny_show(tmp_path, extra)
    cfg = load_show(path, overrides)
    got = []
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        show.run(frames=frames, on_frame=lambda k, px: got.append(px.copy()))
    return np.stack(got)


def test_offline_render_is_deterministic_and_moves(tmp_path):
    a = render_frames(tmp_path)
    b = render_frames(tmp_path)
    assert a.shape == (12, 24, 32, 3)
    np.testing.assert_array_equal(a, b)
    diffs = np.abs(np.diff(a.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (diffs > 0).sum() >= 10, f"frames should change over time: {diffs}"


def test_show_seed_changes_the_picture(tmp_path):
    a = render_frames(tmp_path, frames=3)
    b = render_frames(tmp_path, frames=3, extra=["latent.seeds=[500, 501]"])
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 1.0


def test_render_command_writes_exact_frame_count(tmp_path):
    out = tmp_path / "clip.mp4"
    path, overrides = tiny_show(tmp_path)
    args = ["render", str(path), "--seconds", "2", "--out", str(out)]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    frames, fps = read_video(out)
    assert fps == 10
    assert frames.shape == (20, 24, 32, 3)
    assert not out.with_name(f".{out.name}.partial").exists()


def test_bad_show_file_fails_before_first_frame(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[warp]\nswirl = 1.0\nwobble = 2\n")
    out = tmp_path / "never.mp4"
    result = CliRunner().invoke(cli, ["render", str(bad), "--seconds", "1", "--out", str(out)])
    assert result.exit_code != 0
    assert "warp.wobble" in result.output and str(bad) in result.output
    assert not out.exists()


def test_missing_checkpoint_names_the_file(tmp_path):
    show = tmp_path / "s.toml"
    show.write_text('[model]\ncheckpoint = "nope.pt"\n[osc]\nenabled = false\n')
    result = CliRunner().invoke(cli, ["render", str(show), "--seconds", "1", "--out", str(tmp_path / "o.mp4")])
    assert result.exit_code != 0
    assert "nope.pt" in result.output


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb)")
def test_play_opens_a_window_under_xvfb(tmp_path):
    path, overrides = tiny_show(tmp_path)
    cmd = ["xvfb-run", "-a", sys.executable, "-m", "installation", "play", str(path), "--seconds", "2"]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "play:" in proc.stdout and "No display" not in proc.stdout


@pytest.mark.parametrize(
    "extra, named",
    [
        (["show.shaders='nowhere'"], "nowhere"),  # a ShaderError: once a traceback
        (["dream.enabled=true"], "dream.net"),  # the stand-in has no discriminator to dream with
        (["mappings=[{source='audio.nope', target='warp.swirl'}]"], "audio.nope"),
    ],
)
def test_setup_errors_name_the_key_and_leave_no_recording(tmp_path, caplog, extra, named):
    path, overrides = tiny_show(tmp_path, extra)
    out = tmp_path / "never.mp4"
    args = ["render", str(path), "--seconds", "1", "--out", str(out)]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert named in result.output and "cannot start the show" in result.output
    assert not out.exists() and not out.with_name(f".{out.name}.partial").exists()
    assert not any("recording" in r.getMessage() for r in caplog.records)  # none was started


def test_show_fit_and_tiles_reach_the_shader_chain(tmp_path):
    path, overrides = tiny_show(tmp_path, ["show.fit='tile'", "show.tiles=3"])
    cfg = load_show(path, overrides)
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        assert (show.chain.fit, show.chain.tiles) == ("tile", 3.0)
        show.run(frames=2)
    with pytest.raises(ShowConfigError, match="show.fit"):
        load_show(path, [*overrides, "show.fit='zoom'"])


def test_osc_writes_wake_the_frame_loop_and_reach_the_params(tmp_path):
    import time

    from pythonosc.udp_client import SimpleUDPClient

    cfg = load_show(write_show(tmp_path, osc=True))
    with Show(cfg, ShowOptions(headless=True, osc_port=0)) as show:
        assert not show.wake.is_set()
        SimpleUDPClient("127.0.0.1", show.osc_port).send_message("/installation/grade/exposure", -2.0)
        assert show.wake.wait(5.0), "an OSC write did not wake the frame loop"
        assert show.params.get_target("grade.exposure") == -2.0  # it reached the show's params

        # The woken wait returns and restarts the schedule from now (no short frame after it).
        show.clock.tick()
        before = time.perf_counter()
        show.clock.wait(0.5 * show.clock.period)  # no hold: only the wake can end it early
        assert not show.wake.is_set()
        assert show.clock.next_deadline >= before


def test_pigment_stage_runs_in_the_show_and_takes_impulses(tmp_path):
    frames = render_frames(tmp_path, frames=8, extra=["pigment.enabled=true", "show.fit='tiles'"])
    assert frames.shape == (8, 24, 32, 3) and np.isfinite(frames).all()
    path, overrides = tiny_show(tmp_path, ["pigment.enabled=true", "pigment.onset_impulse=1.0"])
    cfg = load_show(path, overrides)
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        assert show.chain.pigment is not None and show.chain.fill == "tiles"
        show.run(frames=2)
        show.actions.post("pigment_impulse", 0.5, 0.5, 2.0)
        show.run(frames=1)
        speed = np.abs(show.chain.pigment.velocity.read()).max()
    assert speed > 0.3  # the queued impulse reached the velocity field
    off = load_show(path, ["pigment.enabled=false"])
    with Show(off, ShowOptions(headless=True, offline=True)) as show:
        assert show.chain.pigment is None  # the warp/feedback path
        show.run(frames=2)


def test_audio_onsets_push_the_pigment(tmp_path):
    from _audio_files import write_wav

    sr = 22050
    clicks = np.zeros(sr * 3, np.float32)
    for start in np.arange(0.25, 3.0, 0.5):  # a click every half second
        i = int(start * sr)
        clicks[i:i + 400] = np.random.default_rng(int(i)).standard_normal(400).astype(np.float32) * 0.8
    audio = write_wav(tmp_path / "clicks.wav", clicks, sr)
    path = write_show(tmp_path, extra="\n[audio]\nenabled = true\n")
    cfg = load_show(path, ["pigment.enabled=true", "pigment.onset_impulse=1.0"])
    pushes = []
    with Show(cfg, ShowOptions(headless=True, offline=True, audio_file=str(audio))) as show:
        impulse = show.chain.impulse
        show.chain.impulse = lambda *a: (pushes.append(a), impulse(*a))
        show.run(frames=25)  # 2.5 s at 10 fps: about 5 onsets
    assert 3 <= len(pushes) <= 6
    assert all(0.2 <= x <= 0.8 and 0.2 <= y <= 0.8 and s == 1.0 for x, y, s in pushes)


def test_the_upscale_is_skipped_only_when_nobody_reads_the_frame_back(tmp_path, monkeypatch):
    path, overrides = tiny_show(tmp_path, ["show.render_scale=0.5", "pigment.enabled=true"])
    with Show(load_show(path, overrides), ShowOptions(headless=True, offline=True)) as show:
        show.run(frames=2)  # no recording, no outputs, no on_frame: the window scales the frame
        assert show.window.read().shape == (12, 16, 3)
        got = []
        show.run(frames=1, on_frame=lambda k, px: got.append(px.copy()))
        assert got[0].shape == (24, 32, 3) and show.window.read().shape == (24, 32, 3)  # read back: full size
        show.run(frames=1)
        monkeypatch.chdir(tmp_path)
        show.actions.post("screenshot")
        show.run(frames=1)
    from PIL import Image

    (shot,) = tmp_path.glob("screenshot-*.png")
    assert Image.open(shot).size == (32, 24)  # the show's size, as a recording has it
