"""GLSL loading: shaders/ on disk -> moderngl programs, with #include and hot reload.

- `#include "common/noise.glsl"` pastes a file in, recursively. A path is looked up next
  to the including file first, then under the shader root. A file is pasted once per
  program (later includes of it are skipped, like `#pragma once`); an include cycle is an
  error that names the chain.
- Compile errors raise `ShaderError` with `file:line: message` in the file where the
  error is, not in the pasted-together source: every line of that source remembers
  where it came from (a line table), so no `#line` directives are needed and the mapping
  does not depend on how a driver numbers lines after `#line`.
- Hot reload: `ShaderLibrary.reload_if_changed()` compares each file's (mtime, size);
  a program whose files changed is rebuilt; if the new source does not compile, the old
  program stays in use and the error is returned instead of raised.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import moderngl

log = logging.getLogger(__name__)

DEFAULT_SHADER_DIR = Path(__file__).resolve().parents[2] / "shaders"
FULLSCREEN_VERTEX = "fullscreen.vert"

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*(//.*)?$')
_INCLUDE_MALFORMED = re.compile(r"^\s*#\s*include\b")
# Compiler log lines, per driver family: Mesa "0:12(5): error: ...",
# NVIDIA "0(12) : error C0000: ...", AMD/Intel "ERROR: 0:12: ...".
_LOG_MESA = re.compile(r"^\s*(\d+):(\d+)\((\d+)\):\s*(.*)$")
_LOG_NVIDIA = re.compile(r"^\s*(\d+)\((\d+)\)\s*:\s*(.*)$")
_LOG_AMD = re.compile(r"^\s*((?:ERROR|WARNING):)\s*(\d+):(\d+):\s*(.*)$")


class ShaderError(Exception):
    """A shader that cannot be loaded or compiled; the message names file and line."""


@dataclass
class ShaderSource:
    """One shader stage with its includes pasted in."""

    path: Path
    text: str
    origins: list[tuple[Path, int]]  # origins[i] = (file, 1-based line) of pasted line i + 1
    files: list[Path] = field(default_factory=list)  # every file read, the stage's own first

    def origin(self, line: int) -> tuple[Path, int]:
        """(file, line in that file) for a 1-based line of the pasted source."""
        if 1 <= line <= len(self.origins):
            return self.origins[line - 1]
        return self.path, line


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_source(path: Path, root: Path) -> ShaderSource:
    """Read `path` and paste in its #includes (see the module docstring)."""
    out_lines: list[str] = []
    origins: list[tuple[Path, int]] = []
    files: list[Path] = []
    seen: set[Path] = set()

    def paste(file: Path, stack: list[Path], included_from: tuple[Path, int] | None) -> None:
        file = file.resolve()
        if file in stack:
            chain = " -> ".join(p.name for p in [*stack, file])
            where = f"{_display(included_from[0])}:{included_from[1]}: " if included_from else ""
            raise ShaderError(f"{where}#include cycle: {chain}")
        if file in seen:
            return
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            where = f"{_display(included_from[0])}:{included_from[1]}: " if included_from else ""
            raise ShaderError(f"{where}cannot read shader {_display(file)}: {e.strerror or e}") from None
        seen.add(file)
        files.append(file)
        for number, line in enumerate(text.splitlines(), start=1):
            m = _INCLUDE.match(line)
            if m:
                target = _resolve_include(m.group(1), file, root)
                if target is None:
                    raise ShaderError(
                        f"{_display(file)}:{number}: #include \"{m.group(1)}\" not found "
                        f"(looked next to the file and under {_display(root)})"
                    )
                paste(target, [*stack, file], (file, number))
                continue
            if _INCLUDE_MALFORMED.match(line):
                raise ShaderError(f'{_display(file)}:{number}: malformed #include, expected #include "path"')
            out_lines.append(line)
            origins.append((file, number))

    paste(path, [], None)
    return ShaderSource(path=path.resolve(), text="\n".join(out_lines) + "\n", origins=origins, files=files)


def with_defines(source: ShaderSource, defines: tuple[str, ...]) -> ShaderSource:
    """`source` with `#define NAME 1` for each name after its #version line. Switching a feature
    off this way removes its code: llvmpipe runs both sides of a uniform `if` (measured: a
    skipped tone costs as much as a taken one)."""
    if not defines:
        return source
    lines = source.text.splitlines()
    at = next((i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("#version")), 0)
    origin = source.origins[at - 1] if at else (source.path, 0)
    lines[at:at] = [f"#define {name} 1" for name in defines]
    origins = source.origins[:at] + [origin] * len(defines) + source.origins[at:]
    return ShaderSource(path=source.path, text="\n".join(lines) + "\n", origins=origins, files=source.files)


def _resolve_include(name: str, including: Path, root: Path) -> Path | None:
    for base in (including.parent, root):
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None


def map_compiler_log(log_text: str, source: ShaderSource) -> list[str]:
    """Rewrite a driver's compile log so each message reads `file:line: message`,
    with the line counted in the file that holds it, followed by that line of code."""
    messages = []
    shown: tuple[Path, int] | None = None  # quote each code line once, not per message
    for raw in log_text.splitlines():
        if not raw.strip():
            continue
        line = col = None
        m = _LOG_MESA.match(raw)
        if m:
            line, col, text = int(m.group(2)), m.group(3), m.group(4)
        elif m := _LOG_NVIDIA.match(raw):
            line, text = int(m.group(2)), m.group(3)
        elif m := _LOG_AMD.match(raw):
            line, text = int(m.group(3)), f"{m.group(1).lower()} {m.group(4)}"
        if line is None:
            messages.append(f"{_display(source.path)}: {raw.strip()}")
            continue
        file, file_line = source.origin(line)
        where = f"{_display(file)}:{file_line}" + (f":{col}" if col else "")
        code = _line_of(file, file_line) if (file, file_line) != shown else ""
        shown = (file, file_line)
        messages.append(f"{where}: {text}" + (f"\n    {code.strip()}" if code.strip() else ""))
    return messages


def _line_of(file: Path, line: int) -> str:
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return lines[line - 1] if 1 <= line <= len(lines) else ""


def _split_moderngl_error(message: str) -> dict[str, str]:
    """moderngl's compile error is 'GLSL Compiler failed\\n\\n<stage>\\n====\\n<log>';
    return {stage: log}. A link error comes back under the key 'link'."""
    stages: dict[str, str] = {}
    current = "link" if "Linker" in message else None
    lines = message.splitlines()
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if name in ("vertex_shader", "fragment_shader", "geometry_shader") and i + 1 < len(lines) and set(
            lines[i + 1].strip()
        ) == {"="}:
            current = name
            i += 2
            continue
        if current is not None:
            stages[current] = stages.get(current, "") + lines[i] + "\n"
        i += 1
    return stages


def compile_program(ctx: moderngl.Context, vertex: ShaderSource, fragment: ShaderSource) -> moderngl.Program:
    """Compile and link; on failure raise ShaderError with messages mapped to files and lines."""
    try:
        return ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
    except moderngl.Error as e:
        stages = _split_moderngl_error(str(e))
        messages: list[str] = []
        for stage, text in stages.items():
            if stage == "vertex_shader":
                messages += map_compiler_log(text, vertex)
            elif stage == "fragment_shader":
                messages += map_compiler_log(text, fragment)
            else:
                pair = f"{_display(vertex.path)} + {_display(fragment.path)}"
                messages += [f"{pair}: link error: {t.strip()}" for t in text.splitlines() if t.strip()]
        if not messages:
            messages = [f"{_display(fragment.path)}: {str(e).strip()}"]
        raise ShaderError("\n".join(messages)) from None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ShaderProgram:
    """A program built from a vertex and a fragment file; `program` is swapped in place
    on a successful reload and `version` counts the swaps (so users rebuild VAOs)."""

    def __init__(self, ctx: moderngl.Context, root: Path, vertex: str, fragment: str, defines: tuple[str, ...] = ()):
        self.ctx = ctx
        self.root = root
        self.vertex_path = root / vertex
        self.fragment_path = root / fragment
        self.defines = tuple(defines)
        self.name = fragment + "".join(f" +{d}" for d in self.defines)
        self.version = 0
        self._stamps: dict[Path, tuple[int, int] | None] = {}
        self.texts: tuple[str, str] = ("", "")  # the (vertex, fragment) source it runs, includes pasted
        self.program = self._build()

    def _build(self, texts: tuple[str, str] | None = None) -> moderngl.Program:
        if texts is None:
            vertex = load_source(self.vertex_path, self.root)
            fragment = with_defines(load_source(self.fragment_path, self.root), self.defines)
            # Stamp before compiling so an edit during the compile is seen next time.
            self._stamps = {f: _stamp(f) for f in (*vertex.files, *fragment.files)}
        else:  # a version logged by a performance (performance.py), not the files on disk
            vertex, fragment = ShaderSource(self.vertex_path, texts[0], []), ShaderSource(self.fragment_path, texts[1], [])
        program = compile_program(self.ctx, vertex, fragment)
        self.texts = (vertex.text, fragment.text)
        return program

    def changed(self) -> bool:
        return any(_stamp(f) != s for f, s in self._stamps.items())

    def reload(self, texts: tuple[str, str] | None = None) -> None:
        """Rebuild from disk (or these texts); on error keep the old program and raise ShaderError."""
        before = self._stamps
        try:
            program = self._build(texts)
        except ShaderError:
            if self._stamps is before:
                # Reading failed (e.g. a missing include): re-stamp the known files so the
                # same error is not rebuilt every frame; the next save triggers a retry.
                self._stamps = {f: _stamp(f) for f in before}
            raise
        self.program.release()
        self.program = program
        self.version += 1

    def release(self) -> None:
        self.program.release()


class ShaderLibrary:
    """All programs of one context, loaded from one shader folder."""

    def __init__(self, ctx: moderngl.Context, shader_dir: Path | str = DEFAULT_SHADER_DIR):
        self.ctx = ctx
        self.root = Path(shader_dir).resolve()
        if not self.root.is_dir():
            raise ShaderError(f"{self.root}: shader folder not found")
        self._programs: dict[tuple[str, str], ShaderProgram] = {}
        self.failing: set[str] = set()  # programs whose newest version did not compile (the old one runs)
        self.on_build = None  # on_build(key, texts) after a program is built or rebuilt (a performance log)

    def program(self, fragment: str, vertex: str = FULLSCREEN_VERTEX, defines: tuple[str, ...] = ()) -> ShaderProgram:
        """The program for `fragment` (a path under the shader folder), built on first use;
        `defines` (names) are #defined after its #version line: a variant of the same file."""
        key = (vertex, fragment, tuple(defines))
        if key not in self._programs:
            self._programs[key] = ShaderProgram(self.ctx, self.root, vertex, fragment, tuple(defines))
            self._built(key)
        return self._programs[key]

    def _built(self, key) -> None:
        if self.on_build is not None:
            self.on_build(key, self._programs[key].texts)

    def sources(self) -> dict[tuple, tuple[str, str]]:
        """Each program's key (vertex, fragment, defines) and the (vertex, fragment) text it runs."""
        return {key: shader.texts for key, shader in self._programs.items()}

    def replace(self, key: tuple, texts: tuple[str, str]) -> None:
        """Run this version of a program (a replayed performance); ShaderError if it does not compile."""
        vertex, fragment, defines = key
        self.program(fragment, vertex, tuple(defines)).reload(texts)

    def reload_if_changed(self) -> list[str]:
        """Rebuild programs whose files changed. Returns error messages (empty if all good);
        a program that fails to compile keeps running its previous version."""
        errors = []
        for key, shader in self._programs.items():
            if not shader.changed():
                continue
            try:
                shader.reload()
                log.info("reloaded shader %s", shader.name)
                self._built(key)
                self.failing.discard(shader.name)
            except ShaderError as e:
                log.warning("shader %s did not compile, keeping the previous version:\n%s", shader.name, e)
                errors.append(str(e))
                self.failing.add(shader.name)
        return errors

    def release(self) -> None:
        for shader in self._programs.values():
            shader.release()
        self._programs.clear()


def set_uniform(program: moderngl.Program, name: str, value) -> None:
    """Set a uniform if the compiler kept it (unused uniforms are optimised away)."""
    member = program.get(name, None)
    if member is not None:
        member.value = value
