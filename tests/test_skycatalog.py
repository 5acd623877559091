"""Deep-sky types: our reader of Stellarium's catalog.dat (a tiny synthetic one in its layout), file
names and sky positions -> types, and the folder-per-class dataset (never needs stellarium-data)."""

from __future__ import annotations

import gzip
import json
import math
import struct

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from installation.cli import cli
from installation.train.dataset import DatasetError
from installation.train.deepsky import make_deep_sky_type_dataset, read_textures_json
from installation.train.skycatalog import (SkyIndex, designation_of, image_centre, label_images,
                                           read_catalog)

_CATS = ("NGC", "IC", "M", "C", "B", "Sh2", "VdB", "RCW", "LDN", "LBN", "Cr", "Mel", "PGC", "UGC")


def _qstring(s: str) -> bytes:
    data = s.encode("utf-16-be")
    return struct.pack(">I", len(data)) + data


def dso_record(n: int, ra: float, dec: float, otype: int, major: float = 0.1, mag: float = 8.0, **ids) -> bytes:
    """One record in the order of Stellarium's Nebula::readDSO (ra/dec in radians, doubles)."""
    rec = struct.pack(">I4dI", n, math.radians(ra), math.radians(dec), 99.0, mag, otype)
    rec += _qstring("") + struct.pack(">2di6d", major, major, 0, 0, 0, 0, 0, 0, 0)
    rec += struct.pack(">14I", *(ids.get(c, 0) for c in _CATS))
    rec += b"\xff\xff\xff\xff"  # Ced: a null QString
    rec += struct.pack(">2I", 0, 0)  # Arp, VV
    rec += b"".join(_qstring("") for _ in range(7))  # PK, PNG, SNRG, ACO, HCG, ESO, VdBH
    return rec + struct.pack(">5I", 0, 0, 0, 0, 0)  # DWB, Tr, St, Ru, VdBHa


# (file, ra, dec, type, ids): galaxies named by file, clusters found by position, one lonely type.
OBJECTS = [
    ("m31.png", 10.0, 41.0, 0, {"M": 31, "NGC": 224}),
    ("n891-vasey.png", 35.0, 42.0, 0, {"NGC": 891}),
    ("ic342.png", 56.0, 68.0, 0, {"IC": 342}),
    ("cluster_a.png", 120.0, 10.0, 7, {}),
    ("cluster_b.png", 130.0, -10.0, 7, {}),
    ("cluster_c.png", 140.0, 20.0, 7, {}),
    ("barnard33.png", 85.0, -2.0, 12, {"B": 33}),
]


def write_catalog(path, gz=True):
    body = _qstring("3.16") + _qstring("standard")
    for i, (_, ra, dec, otype, ids) in enumerate(OBJECTS, start=1):
        body += dso_record(i, ra, dec, otype, **ids)
    body += dso_record(99, 120.05, 10.02, 6, major=0.01, mag=12)  # a small open cluster beside cluster_a
    body += dso_record(100, 130.0, -10.0, 28, major=5.0)  # a star: never the target
    path.write_bytes(gzip.compress(body) if gz else body)


def _corners(ra, dec, half=0.5):
    return [[ra + half, dec - half], [ra - half, dec - half], [ra - half, dec + half], [ra + half, dec + half]]


@pytest.fixture
def sky(tmp_path, monkeypatch):
    folder = tmp_path / "nebulae"
    folder.mkdir()
    tiles = [{"imageCredits": {"short": f"Observer {i}"}, "imageUrl": name, "worldCoords": [_corners(ra, dec)]}
             for i, (name, ra, dec, _, _) in enumerate(OBJECTS)]
    (folder / "textures.json").write_text(json.dumps({"subTiles": tiles}))
    rng = np.random.RandomState(0)
    for name, *_ in OBJECTS:
        Image.fromarray(rng.randint(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / name)
    write_catalog(folder / "catalog.dat")
    monkeypatch.setenv("INSTALLATION_STELLARIUM_DIR", str(folder))
    return folder


def test_catalog_reader_reads_positions_types_and_designations(sky, tmp_path):
    version, objects = read_catalog(sky / "catalog.dat")
    assert version == "3.16" and len(objects) == len(OBJECTS) + 2
    m31 = objects[0]
    assert m31.ra == pytest.approx(10.0) and m31.dec == pytest.approx(41.0) and m31.type == 0
    assert ("M", 31) in m31.ids and ("NGC", 224) in m31.ids and m31.cls == "galaxy"
    write_catalog(tmp_path / "plain.dat", gz=False)  # not gzipped: read the same
    assert read_catalog(tmp_path / "plain.dat")[1] == objects


def test_cut_or_foreign_catalogue_is_one_clear_line(sky, tmp_path):
    data = gzip.decompress((sky / "catalog.dat").read_bytes())
    (tmp_path / "cut.dat").write_bytes(data[:-20])
    with pytest.raises(DatasetError, match=r"cut.dat: not a Stellarium DSO catalogue .*record 9 is cut short"):
        read_catalog(tmp_path / "cut.dat")
    (tmp_path / "junk.dat").write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(DatasetError, match="junk.dat: unreadable DSO catalogue"):
        read_catalog(tmp_path / "junk.dat")


@pytest.mark.parametrize("name, expected", [
    ("m31.png", ("M", 31)), ("m1dumont.png", ("M", 1)), ("n4038-9.png", ("NGC", 4038)),
    ("n869-884spano.png", ("NGC", 869)), ("ic348-dss.png", ("IC", 348)), ("barnard33.png", ("B", 33)),
    ("sh2-132.png", ("Sh2", 132)), ("ldn1622.png", ("LDN", 1622)), ("u8335h.png", ("UGC", 8335)),
    ("p10074.png", ("PGC", 10074)), ("barnard_loop-1.png", None), ("lmc_01.png", None), ("medusa.png", None),
])
def test_designations_from_file_names(name, expected):
    assert designation_of(name) == expected


def test_images_are_typed_by_name_then_by_position(sky):
    _, objects = read_catalog(sky / "catalog.dat")
    textures = read_textures_json(sky / "textures.json")
    labels = {lab.image: lab for lab in label_images(textures, SkyIndex(objects), [o[0] for o in OBJECTS])}
    assert (labels["m31.png"].cls, labels["m31.png"].how) == ("galaxy", "name")
    assert (labels["barnard33.png"].cls, labels["barnard33.png"].how) == ("dark_nebula", "name")
    # By position: the larger globular cluster wins over the small open cluster beside it, and the
    # big star at cluster_b's centre is never the target.
    assert (labels["cluster_a.png"].cls, labels["cluster_a.png"].how) == ("globular_cluster", "position")
    assert labels["cluster_b.png"].cls == "globular_cluster"
    centre, radius = image_centre(_corners(0.0, 0.0))
    assert radius == pytest.approx(0.5, abs=0.01) and centre[0] == pytest.approx(1.0)


def test_by_type_dataset_is_folder_per_class_with_groups_and_credits(sky, tmp_path):
    out = tmp_path / "bytype"
    lines = []
    counts = make_deep_sky_type_dataset(16, out, crops=40, min_images=3, progress=False, log=lines.append)
    # dark nebula (1 photograph) is too small: merged into 'other', itself too small: left out.
    assert sorted(counts) == ["galaxy", "globular_cluster"]
    assert counts["galaxy"] == {"photographs": 4, "crops": 20, "labelled_by": {"name": 3, "XDF": 1}}
    assert counts["globular_cluster"]["labelled_by"] == {"position": 3}
    assert any("dark_nebula: 1 photograph(s)" in line and "merged into 'other'" in line for line in lines)
    assert any(line.startswith("galaxy") and line.split()[-1] == "20" for line in lines)
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(pngs) == 40 and {p.split("/")[0] for p in pngs} == {"galaxy", "globular_cluster"}
    groups = json.loads((out / "groups.json").read_text())
    assert set(groups) == set(pngs) and groups["galaxy/m31_000.png"] == "m31.png"
    assert Image.open(out / pngs[0]).size == (16, 16)
    credits = (out / "CREDITS").read_text()
    assert "m31.png\tObserver 0" in credits and "barnard33.png" not in credits


def test_by_type_with_one_class_is_one_clear_line(sky, tmp_path):
    with pytest.raises(DatasetError, match=r"only 1 type\(s\) with 5\+ photographs; need at least 2 classes"):
        make_deep_sky_type_dataset(16, tmp_path / "x", crops=40, min_images=5, progress=False, log=lambda s: None)


def test_cli_by_type_errors_are_one_line(sky, tmp_path):
    r = CliRunner().invoke(cli, ["dataset", "--hubble", "--by-type", "--res", "16", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "--by-type needs --deep-sky" in r.output
    # Seven photographs: every type is under the 10 a class needs.
    r = CliRunner().invoke(cli, ["dataset", "--deep-sky", "--by-type", "--res", "16", "--out", str(tmp_path / "y")])
    assert r.exit_code != 0 and "only 0 type(s) with 10+ photographs" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "y").exists()


def test_too_few_crops_is_one_clear_line(sky, tmp_path):
    with pytest.raises(DatasetError, match=r"--crops 6: expected at least one crop per photograph"):
        make_deep_sky_type_dataset(16, tmp_path / "x", crops=6, min_images=3, progress=False, log=lambda s: None)
