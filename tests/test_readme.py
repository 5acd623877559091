"""The README's generated OSC address list matches the schema (one source of truth)."""

from pathlib import Path

from installation.control.osc_docs import update_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_osc_addresses_are_current():
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) == text, "run `installation osc-addresses --write README.md`"
