"""Shader loading: #include, errors that name file and line, hot reload (on a temp copy)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from installation.render.chain import ShaderChain
from installation.render.shaders import DEFAULT_SHADER_DIR, ShaderError, ShaderLibrary, load_source

from conftest import NEUTRAL


@pytest.fixture
def shader_dir(tmp_path) -> Path:
    """A private copy of shaders/ that a test may edit."""
    return Path(shutil.copytree(DEFAULT_SHADER_DIR, tmp_path / "shaders"))


def write(path: Path, text: str) -> None:
    """Write and move the mtime clearly forward (filesystem clocks can be coarse)."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    bumped = max(path.stat().st_mtime_ns, old + 10_000_000)
    os.utime(path, ns=(bumped, bumped))


def test_every_shipped_pass_compiles(ctx):
    library = ShaderLibrary(ctx)
    for frag in sorted(DEFAULT_SHADER_DIR.glob("*.frag")):
        assert library.program(frag.name).program is not None
    library.release()


def test_include_pastes_files_once_and_keeps_a_line_table(shader_dir):
    (shader_dir / "common" / "a.glsl").write_text('#include "common/b.glsl"\nfloat a() { return b(); }\n')
    (shader_dir / "common" / "b.glsl").write_text("float b() { return 1.0; }\n")
    (shader_dir / "t.frag").write_text(
        '#version 330 core\n#include "common/a.glsl"\n#include "common/b.glsl"\nout vec4 o;\n'
    )
    src = load_source(shader_dir / "t.frag", shader_dir)
    assert src.text.count("float b()") == 1  # the second include of b is skipped
    assert [p.name for p in src.files] == ["t.frag", "a.glsl", "b.glsl"]
    lines = src.text.splitlines()
    assert src.origin(lines.index("out vec4 o;") + 1) == ((shader_dir / "t.frag").resolve(), 4)
    assert src.origin(lines.index("float a() { return b(); }") + 1) == ((shader_dir / "common/a.glsl").resolve(), 2)


def test_include_cycle_is_an_error_naming_the_chain(shader_dir):
    (shader_dir / "common" / "x.glsl").write_text('#include "common/y.glsl"\n')
    (shader_dir / "common" / "y.glsl").write_text('\n#include "common/x.glsl"\n')
    (shader_dir / "t.frag").write_text('#version 330 core\n#include "common/x.glsl"\n')
    with pytest.raises(ShaderError, match=r"y\.glsl:2: #include cycle: t\.frag -> x\.glsl -> y\.glsl -> x\.glsl"):
        load_source(shader_dir / "t.frag", shader_dir)


def test_missing_include_names_the_including_line(shader_dir):
    (shader_dir / "t.frag").write_text('#version 330 core\n\n#include "common/nope.glsl"\n')
    with pytest.raises(ShaderError, match=r't\.frag:3: #include "common/nope\.glsl" not found'):
        load_source(shader_dir / "t.frag", shader_dir)


def test_syntax_error_names_the_frag_file_and_line(ctx, shader_dir):
    path = shader_dir / "content.frag"
    lines = path.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip().startswith("vec2 p = uv;"))
    lines[target] = lines[target].rstrip().rstrip(";")  # drop the ';'
    path.write_text("\n".join(lines) + "\n")
    library = ShaderLibrary(ctx, shader_dir)
    with pytest.raises(ShaderError) as err:
        library.program("content.frag")
    message = str(err.value)
    # Mesa reports a missing ';' on the line of the next token.
    assert f"content.frag:{target + 2}:" in message, message
    assert "common/uv.glsl" not in message


def test_error_inside_an_include_names_the_included_file(ctx, shader_dir):
    uv_glsl = shader_dir / "common" / "uv.glsl"
    lines = uv_glsl.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if "return 1.0 - abs(mod(p, 2.0) - 1.0);" in line)
    lines[target] = "    return 1.0 - abs(mod(p, 2.0) - undefined_thing);"
    uv_glsl.write_text("\n".join(lines) + "\n")
    library = ShaderLibrary(ctx, shader_dir)
    with pytest.raises(ShaderError) as err:
        library.program("content.frag")
    message = str(err.value)
    assert f"uv.glsl:{target + 1}:" in message, message
    assert "undefined_thing" in message
    assert "content.frag:" not in message


def _render(chain: ShaderChain) -> np.ndarray:
    texture = chain.render(NEUTRAL, 0.0, 1.0)
    return np.frombuffer(texture.read(), np.uint8).reshape(16, 16, 4)[..., :3]


def test_hot_reload_picks_up_edits_and_keeps_the_old_program_on_errors(ctx, shader_dir):
    chain = ShaderChain(ctx, 16, 16, shader_dir=shader_dir)
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[..., 0] = 200
    chain.push_content(frame)
    before = _render(chain)
    assert chain.reload_if_changed() == []
    np.testing.assert_allclose(before[..., 0], 200, atol=1)

    grade = shader_dir / "grade.frag"
    original = grade.read_text()
    final = "    frag_color = vec4(clamp(c, 0.0, 1.0), 1.0);"
    assert final in original
    write(grade, original.replace(final, "    frag_color = vec4(1.0 - clamp(c, 0.0, 1.0), 1.0);"))
    assert chain.reload_if_changed() == []
    inverted = _render(chain)
    np.testing.assert_allclose(inverted[..., 0], 55, atol=1)
    np.testing.assert_allclose(inverted[..., 1], 255, atol=1)

    broken = original.replace(final, "    frag_color = vec4(clamp(c, 0.0, 1.0), 1.0)  // oops\n    oops;")
    write(grade, broken)
    errors = chain.reload_if_changed()
    assert len(errors) == 1 and "grade.frag:" in errors[0], errors
    np.testing.assert_array_equal(_render(chain), inverted)  # still the last good program
    assert chain.reload_if_changed() == []  # not retried until the file changes again

    write(grade, original)
    assert chain.reload_if_changed() == []
    np.testing.assert_array_equal(_render(chain), before)
    chain.release()
