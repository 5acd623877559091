"""Hot reload that never loses the show's state (issue #15 items 14, 15): the window title clears
when a broken shader is fixed; an empty or half-saved show file is not applied, and restoring the
file restores its scene."""

from __future__ import annotations

import logging
import shutil

from _tiny_show import run_until, write_show

from installation.config import load_show
from installation.render.shaders import DEFAULT_SHADER_DIR
from installation.reload import upkeep
from installation.show import Show, ShowOptions


def test_window_title_clears_when_the_broken_shader_is_fixed(tmp_path):
    shutil.copytree(DEFAULT_SHADER_DIR, tmp_path / "my_shaders")
    grade = tmp_path / "my_shaders" / "grade.frag"
    original = grade.read_text()
    path = write_show(tmp_path, fps=30, show_extra='shaders = "my_shaders"')
    with Show(load_show(path), ShowOptions(headless=True, offline=False, reload_interval=0.0), show_path=path) as show:
        titles = []
        show.window.set_title = titles.append  # what a windowed show would display
        show.run(frames=2)
        grade.write_text(original + "\nthis does not compile;\n")
        assert run_until(show, lambda: show.stats.reload_errors == 1)
        assert "shader error" in titles[-1]
        grade.write_text(original + "\n// fixed\n")
        assert run_until(show, lambda: titles[-1] == "tiny")
        assert show.chain.library.failing == set()


def test_empty_or_half_saved_show_file_keeps_the_scene_and_restoring_brings_it_back(tmp_path, caplog):
    path = write_show(tmp_path, fps=30, scenes=True, fade=0.0)
    good = path.read_text()
    caplog.set_level(logging.INFO)
    with Show(load_show(path), ShowOptions(headless=True, offline=False, reload_interval=0.0), show_path=path) as show:
        show.run(frames=2)
        show.cues.go_to_scene("b", 0.0)
        show.run(frames=2)
        assert show.params.get_target("grade.exposure") == 1.0
        # an editor empties the file while saving: never applied
        path.write_text("")
        assert run_until(show, lambda: show.stats.reload_errors == 1)
        assert show.cues.scene_name == "b" and show.params.get_target("grade.exposure") == 1.0
        assert show.stats.reloads == 0
        # half written, cut at a line (valid TOML without the scenes): applied, the scene goes
        path.write_text(good[: good.index("[scenes.a]")])
        assert run_until(show, lambda: show.stats.reloads == 1)
        assert show.cues.scene_name is None
        # the file is whole again: its scene comes back with its look
        path.write_text(good)
        assert run_until(show, lambda: show.stats.reloads == 2)
        assert show.cues.scene_name == "b"
        assert run_until(show, lambda: show.params.get_target("grade.exposure") == 1.0)


def test_a_changed_show_file_is_read_once_it_stops_changing(tmp_path):
    path = write_show(tmp_path, fps=30, extra="[warp]\nflow = 0.01\n")
    with Show(load_show(path), ShowOptions(headless=True, offline=False), show_path=path) as show:
        path.write_text(path.read_text().replace("flow = 0.01", "flow = 0.02"))
        upkeep(show)  # changed since the last look: maybe mid-save
        assert show.stats.reloads == 0
        upkeep(show)  # unchanged since: read it
        assert show.stats.reloads == 1
