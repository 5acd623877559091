"""Scenes and cues: validation, crossfades of parameters and keyframes, cue stepping by key and OSC."""

from __future__ import annotations

from functools import partial

import pytest
from click.testing import CliRunner
from pythonosc.udp_client import SimpleUDPClient

from installation.cli import cli
from installation.config import ShowConfigError, load_show
from installation.params import Params
from installation.scenes import CueDirector
from installation.show import Show, ShowOptions
from _tiny_show import run_until, write_show


# --- the schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, key",
    [
        ("[scenes.a]\nwarp = { swril = 1.0 }\n", "scenes.a.warp.swril"),
        ("[scenes.a]\nwarp = { swirl = 99.0 }\n", "scenes.a.warp.swirl"),
        ("[scenes.a]\nlook = 1\n", "scenes.a.look"),
        ("[scenes.a]\n[[cues]]\nscene = \"nope\"\n", "cues.0.scene"),
        ("[scenes.a]\n[[cues]]\nscene = \"a\"\nfaed = 2\n", "cues.0.faed"),
        ("[scenes.a]\n[[cues]]\nscene = \"a\"\nhold = -1\n", "cues.0.hold"),
        ("[scenes.a]\nmappings = [{ source = \"osc.x\", target = \"show.fps\" }]\n", "scenes.a.mappings.0.target"),
    ],
)
def test_bad_scene_or_cue_key_names_key_and_file(tmp_path, extra, key):
    path = write_show(tmp_path, extra=extra)
    with pytest.raises(ShowConfigError) as e:
        load_show(path)
    assert key in str(e.value) and str(path) in str(e.value)


def test_bad_cue_fails_before_the_first_frame(tmp_path):
    path = write_show(tmp_path, scenes=True, extra="[[cues]]\nscene = \"missing\"\n")
    out = tmp_path / "never.mp4"
    result = CliRunner().invoke(cli, ["render", str(path), "--seconds", "1", "--out", str(out)])
    assert result.exit_code != 0
    assert "cues.2.scene" in result.output and str(path) in result.output
    assert not out.exists() and not list(tmp_path.glob(".*.partial"))


def test_scene_values_are_the_base_look_plus_the_scene(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True))
    director = CueDirector(cfg, Params(cfg))
    look = director.look("b")
    assert look["warp.swirl"] == 3.0 and look["grade.hue"] == 0.5
    assert look["latent.speed"] == cfg.latent.speed  # not in the scene: the show's value


# --- the director (pure parameters) ----------------------------------------------------------


def test_crossfade_moves_parameters_from_a_to_b_over_the_fade(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True, fade=2.0))
    params = Params(cfg)
    entered = []
    director = CueDirector(cfg, params, on_scene=lambda scene, fade: entered.append((scene.seeds, fade)))
    director.start()  # cue 0: scene a, a cut
    assert params.get_target("warp.swirl") == 1.0 and params.get_target("grade.exposure") == -1.0
    director.next_cue()  # scene b over 2 s
    assert director.cue_index == 1 and director.scene_name == "b"
    assert entered[-1] == ([7, 8], 2.0)
    seen = []
    for _ in range(20):  # 2 s in 0.1 s frames
        director.update(0.1)
        seen.append(params.snapshot(0.1)["warp.swirl"])
    assert seen[-1] == pytest.approx(3.0)
    assert params.get_target("grade.exposure") == pytest.approx(1.0)
    assert seen[9] == pytest.approx(2.0, abs=1e-6)  # halfway in time is halfway in value (smoothstep)
    assert all(b >= a for a, b in zip(seen, seen[1:])), "the fade should be monotonic"
    assert 1.0 < seen[3] < 2.0 < seen[15] < 3.0
    assert not director.fading


def test_hold_advances_and_the_last_hold_loops(tmp_path):
    extra = "[scenes.a]\n[scenes.b]\n[[cues]]\nscene = \"a\"\nfade = 0\nhold = 1.0\n[[cues]]\nscene = \"b\"\nfade = 0.5\nhold = 1.0\n"
    cfg = load_show(write_show(tmp_path, extra=extra))
    director = CueDirector(cfg, Params(cfg))
    director.start()
    visited = []
    for _ in range(60):
        director.update(0.1)
        visited.append(director.cue_index)
    assert visited[5] == 0 and 1 in visited
    assert visited.index(1) == 10  # 1 s hold after a cut
    assert visited[-1] in (0, 1) and visited[visited.index(1):].count(0) > 0, "the last cue's hold loops to the first"


def test_manual_next_stops_at_the_last_cue_and_previous_at_the_first(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True))
    director = CueDirector(cfg, Params(cfg))
    for _ in range(4):
        director.next_cue()
    assert director.cue_index == 1
    for _ in range(4):
        director.previous_cue()
    assert director.cue_index == 0
    with pytest.raises(ValueError, match="no such scene"):
        director.go_to_scene("nope")
    assert director.go_to_scene(1) == "b"


def test_reload_only_fades_what_the_file_changed(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True))
    params = Params(cfg)
    director = CueDirector(cfg, params)
    director.start()
    params.set("feedback.amount", 0.9)  # a performer's OSC move: not in the file, must survive
    edited = load_show(write_show(tmp_path, scenes=True, extra="[grade]\ncontrast = 2.0\n"))
    director.reload(edited, fade=0.0)
    assert params.get_target("grade.contrast") == 2.0
    assert params.get_target("feedback.amount") == 0.9
    assert params.get_target("warp.swirl") == 1.0  # still scene a


# --- in a show ---------------------------------------------------------------------------------


def test_offline_show_crossfades_parameters_and_keyframes(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True, fade=1.0, fps=10))
    swirl = []
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        show.run(frames=3, on_frame=lambda k, px: swirl.append(show.params_now["warp.swirl"]))
        assert show.cues.scene_name == "a" and swirl[-1] == pytest.approx(1.0)
        before = show.latent.trajectory
        show.post("cue_next")
        show.run(frames=13, on_frame=lambda k, px: swirl.append(show.params_now["warp.swirl"]))
        assert show.cues.scene_name == "b"
        assert show.latent.trajectory is not before and show.latent.trajectory.num_keyframes == 2  # scene b's seeds
        assert not show.latent.fading  # the keyframe crossfade has finished
        assert show.status()["scene"] == "b"
    fade = swirl[3:]
    assert fade[-1] == pytest.approx(3.0)
    assert 1.0 < fade[4] < 3.0, f"mid-fade values lie between the scenes: {fade}"


_run_until = partial(run_until, max_frames=200)


def test_cues_and_scenes_step_over_osc(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True, osc=True, fade=0.2, fps=30))
    with Show(cfg, ShowOptions(headless=True, offline=False, osc_port=0)) as show:
        client = SimpleUDPClient("127.0.0.1", show.osc_port)
        assert _run_until(show, lambda: show.cues.cue_index == 0)
        client.send_message("/installation/cue/next", [])
        assert _run_until(show, lambda: show.cues.cue_index == 1)
        assert _run_until(show, lambda: show.params.get_target("warp.swirl") == pytest.approx(3.0))
        client.send_message("/installation/cue/previous", [])
        assert _run_until(show, lambda: show.cues.cue_index == 0)
        client.send_message("/installation/scene", "b")
        assert _run_until(show, lambda: show.cues.scene_name == "b")
        client.send_message("/installation/scene", 0)
        assert _run_until(show, lambda: show.cues.scene_name == "a")
        client.send_message("/installation/scene", "nope")  # logged and counted, the show goes on
        errors = show.stats.frame_errors
        assert _run_until(show, lambda: show.stats.frame_errors > errors)
        assert show.cues.scene_name == "a"


def test_keys_step_through_cues(tmp_path):
    cfg = load_show(write_show(tmp_path, scenes=True, fade=0.0))
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        show.run(frames=1)
        show.handle_key("right")
        assert show.cues.cue_index == 1
        show.handle_key("page_up")
        assert show.cues.cue_index == 0
        show.handle_key("2")
        assert show.cues.cue_index == 1
        show.handle_key("p")
        assert show.cues.cue_index == 0
