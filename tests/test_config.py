"""The show schema: validation errors name the key and the file; overrides; path resolution."""

from pathlib import Path

import pytest

from installation.config import ShowConfigError, load_show, parse_override

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "show.toml"
    p.write_text(text)
    return p


def test_every_shipped_show_validates():
    shows = sorted((REPO / "show_configs").glob("*.toml"))
    assert shows, "no shipped show files"
    for path in shows:
        cfg = load_show(path)
        assert cfg.show.width >= 16


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "[warp]\nswirll = 1.0\n")
    with pytest.raises(ShowConfigError) as e:
        load_show(p)
    assert "warp.swirll" in str(e.value)
    assert str(p) in str(e.value)


def test_wrong_type_names_key(tmp_path):
    p = write(tmp_path, '[show]\nfps = "fast"\n')
    with pytest.raises(ShowConfigError, match=r"show\.fps"):
        load_show(p)


def test_out_of_range_live_value_is_an_error(tmp_path):
    p = write(tmp_path, "[feedback]\namount = 1.5\n")
    with pytest.raises(ShowConfigError, match=r"feedback\.amount"):
        load_show(p)


def test_bad_toml_names_file(tmp_path):
    p = write(tmp_path, "[show\n")
    with pytest.raises(ShowConfigError, match="not valid TOML"):
        load_show(p)


def test_overrides_apply_and_are_validated(tmp_path):
    p = write(tmp_path, "[latent]\nspeed = 1.0\n")
    cfg = load_show(p, ["latent.speed=0.25", "show.name=club", "latent.seeds=[3, 4]"])
    assert cfg.latent.speed == 0.25
    assert cfg.show.name == "club"
    assert cfg.latent.seeds == [3, 4]
    with pytest.raises(ShowConfigError, match=r"latent\.nope"):
        load_show(p, ["latent.nope=1"])


def test_parse_override_requires_equals():
    with pytest.raises(ShowConfigError, match="KEY=VALUE"):
        parse_override("latent.speed")
    assert parse_override("a.b=word") == (["a", "b"], "word")


def test_paths_resolve_against_show_folder(tmp_path):
    p = write(tmp_path, '[model]\ncheckpoint = "models/x.pt"\n')
    cfg = load_show(p)
    assert cfg.resolve(cfg.model.checkpoint) == (tmp_path / "models" / "x.pt").resolve()


def test_open_osc_needs_allow_list(tmp_path):
    p = write(tmp_path, '[osc]\nhost = "0.0.0.0"\n')
    with pytest.raises(ShowConfigError, match=r"osc\.allow"):
        load_show(p)
    p = write(tmp_path, '[osc]\nhost = "0.0.0.0"\nallow = ["192.168.1.0/24"]\n')
    assert load_show(p).osc.allow == ["192.168.1.0/24"]


def test_mapping_target_must_be_live(tmp_path):
    p = write(tmp_path, '[[mappings]]\nsource = "audio.rms"\ntarget = "show.fps"\n')
    with pytest.raises(ShowConfigError, match=r"mappings\.0\.target"):
        load_show(p)


def test_schema_description_lists_every_live_parameter():
    from installation.config import describe_schema
    from installation.live import live_specs

    text = describe_schema()
    for spec in live_specs():
        section, name = spec.key.split(".")
        block = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        assert f"\n{name} = " in block and "live" in block, spec.key
