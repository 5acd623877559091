"""A show file as text: reading it (size and encoding checked), parsing its TOML, and `--set a.b=v`
overrides. The schema that validates what comes out is config.py."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ShowConfigError(ValueError):
    """A show file or override that cannot be used; the message names file and key."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b=v' -> (['a', 'b'], v), with v parsed as a TOML value (bare words as strings)."""
    if "=" not in text:
        raise ShowConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. latent.speed=0.5")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ShowConfigError(f"--set {text!r}: empty key")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise ShowConfigError(f"--set {key}: the value is nested too deeply") from None
    return key.split("."), value


def apply_override(data: dict, path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ShowConfigError(f"--set {'.'.join(path)}: '{part}' is not a section")
    node[path[-1]] = value


# A show file is a page of settings; 1 MB is thousands of keyframes. Larger files are refused
# before they are parsed (a 10 MB file took minutes to set up).
MAX_SHOW_BYTES = 1 << 20


def read_show_text(path: Path) -> str:
    """A show file's text; ShowConfigError naming the file if it is too big or not UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SHOW_BYTES + 1)
    except OSError as e:
        raise ShowConfigError(f"{path}: cannot read the show file ({e.strerror or e})") from None
    if len(raw) > MAX_SHOW_BYTES:
        raise ShowConfigError(f"{path}: the show file is larger than {MAX_SHOW_BYTES // 1024} KB; "
                              "expected a page of settings")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ShowConfigError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                              "save the show file as UTF-8") from None
    return text


def parse_show_text(path: Path, text: str | None = None) -> dict:
    """The TOML of a show file (or of `text`, read from it earlier); ShowConfigError naming the
    file if it is too big, not UTF-8 or not TOML."""
    if text is None:
        text = read_show_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ShowConfigError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ShowConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
