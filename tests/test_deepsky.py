"""The deep-sky dataset: Stellarium's photographs (a stand-in folder in its layout) plus the Hubble XDF,
crops spread over every source, credits, and one clear line for each bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from installation.train.dataset import DatasetError, ImageDataset, read_metadata
from installation.train.deepsky import (crops_per_source, make_deep_sky_dataset, read_textures_json,
                                         stellarium_images)

# Stellarium writes numbers such as -.5 that strict JSON refuses; one image has no entry at all.
TEXTURES = """{
 "shortName": "Nebulae",
 "subTiles": [
  {"imageCredits": {"short": "Observer A", "infoUrl": "https://example.org/a"}, "imageUrl": "a.png",
   "worldCoords": [[[83.6, -.5], [83.5, .25]]]},
  {"imageCredits": {"Short": "Observer B"}, "imageUrl": "b.png", "worldCoords": [[[1.0, -2.0]]]}
 ]
}"""


@pytest.fixture
def sky_folder(tmp_path, monkeypatch):
    folder = tmp_path / "nebulae"
    folder.mkdir()
    (folder / "textures.json").write_text(TEXTURES)
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.randint(0, 255, (40, 40), dtype=np.uint8), mode="L").convert("P").save(folder / "b.png")
    Image.fromarray(rng.randint(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "c.png")
    monkeypatch.setenv("INSTALLATION_STELLARIUM_DIR", str(folder))
    return folder


def test_textures_json_with_stellarium_numbers(sky_folder):
    tiles = read_textures_json(sky_folder / "textures.json")["subTiles"]
    assert tiles[0]["worldCoords"][0][0] == [83.6, -0.5]
    images = stellarium_images(sky_folder)
    assert [i.path.name for i in images] == ["a.png", "b.png", "c.png"]
    assert [i.credit for i in images[:2]] == ["Observer A", "Observer B"]  # "short" and "Short" both read
    assert "copyright" in images[2].credit  # not listed: pointed at the package's copyright file


def test_crops_are_spread_over_every_source():
    assert crops_per_source(10, 4) == [3, 3, 2, 2]
    assert sum(crops_per_source(12000, 560)) == 12000


def test_deep_sky_dataset_with_credits(sky_folder, tmp_path):
    rep = make_deep_sky_dataset(16, tmp_path / "ds", crops=9, progress=False)
    assert rep.count == 9 and not rep.skipped
    meta = read_metadata(tmp_path / "ds")
    assert meta["mode"] == "deep-sky" and meta["resolution"] == 16
    assert tuple(ImageDataset(tmp_path / "ds").images.shape) == (9, 3, 16, 16)
    credits = (tmp_path / "ds" / "CREDITS").read_text().splitlines()
    assert "a.png\tObserver A\thttps://example.org/a" in credits
    assert "b.png\tObserver B" in credits
    assert any(line.startswith("hubble_deep_field.jpg\tNASA") for line in credits)


def test_deep_sky_dataset_is_deterministic(sky_folder, tmp_path):
    make_deep_sky_dataset(16, tmp_path / "one", crops=8, seed=3, progress=False)
    make_deep_sky_dataset(16, tmp_path / "two", crops=8, seed=3, progress=False)
    assert (ImageDataset(tmp_path / "one").images == ImageDataset(tmp_path / "two").images).all()


def test_tiny_and_broken_sources_are_skipped_and_reported(sky_folder, tmp_path):
    (sky_folder / "c.png").write_bytes(b"not a png")
    Image.new("RGB", (5, 5)).save(sky_folder / "d.png")
    rep = make_deep_sky_dataset(16, tmp_path / "ds", crops=10, progress=False)
    reasons = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in rep.skipped}
    assert set(reasons) == {"c.png", "d.png"} and "too small" in reasons["d.png"]
    credits = (tmp_path / "ds" / "CREDITS").read_text()
    assert "c.png" not in credits and "d.png" not in credits  # only images that were used are credited
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["count"] == rep.count


def test_missing_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTALLATION_STELLARIUM_DIR", str(tmp_path / "absent"))
    with pytest.raises(DatasetError, match="apt-get install stellarium-data"):
        make_deep_sky_dataset(16, tmp_path / "ds", crops=4, progress=False)
    assert not (tmp_path / "ds").exists()


def test_bad_resolution_and_crop_count(sky_folder, tmp_path):
    with pytest.raises(DatasetError, match="power of two"):
        make_deep_sky_dataset(24, tmp_path / "ds", crops=8, progress=False)
    with pytest.raises(DatasetError, match="power of two"):
        make_deep_sky_dataset(65536, tmp_path / "ds", crops=8, progress=False)
    with pytest.raises(DatasetError, match="at least one per source"):
        make_deep_sky_dataset(16, tmp_path / "ds", crops=2, progress=False)


def test_failed_build_leaves_nothing_that_looks_complete(sky_folder, tmp_path):
    from installation.train.dataset import write_dataset
    from installation.train.deepsky import deep_sky_crops

    for name in ("a.png", "b.png", "c.png"):
        (sky_folder / name).write_bytes(b"broken")
    skipped = []
    images = (im for im, _ in deep_sky_crops(stellarium_images(sky_folder), 16, 4, 0, skipped))
    with pytest.raises(DatasetError, match="none of the images could be read"):
        write_dataset(images, 4, tmp_path / "ds", {"resolution": 16, "source": "test"}, skipped, progress=False)
    assert not (tmp_path / "ds").exists()
    assert not list(tmp_path.glob(".ds*"))  # no hidden partial left behind


def test_an_existing_folder_that_is_not_a_dataset_is_never_replaced(sky_folder, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "mine.jpg").write_bytes(b"precious")
    with pytest.raises(DatasetError, match="not a dataset"):
        make_deep_sky_dataset(16, tmp_path / "photos", crops=4, progress=False)
    assert (tmp_path / "photos" / "mine.jpg").read_bytes() == b"precious"
    make_deep_sky_dataset(16, tmp_path / "ds", crops=4, progress=False)
    make_deep_sky_dataset(16, tmp_path / "ds", crops=5, progress=False)  # a dataset is rebuilt in place
    assert read_metadata(tmp_path / "ds")["count"] == 5


def test_cli_without_the_package_is_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from installation.cli import cli

    monkeypatch.setenv("INSTALLATION_STELLARIUM_DIR", str(tmp_path / "absent"))
    result = CliRunner().invoke(cli, ["dataset", "--deep-sky", "--res", "16", "--out", str(tmp_path / "ds")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "apt-get install stellarium-data" in result.output
    result = CliRunner().invoke(cli, ["dataset", "--deep-sky", "--hubble", "--res", "16", "--out", str(tmp_path / "ds")])
    assert result.exit_code != 0 and "exactly one source" in result.output


def test_a_compact_jpeg_copy_keeps_each_image_credit(sky_folder):
    # benchmarks/gpu_train.sh carries the photographs as small JPEGs; textures.json still names the PNGs.
    Image.open(sky_folder / "a.png").save(sky_folder / "a.jpg", quality=90)
    (sky_folder / "a.png").unlink()
    images = {i.path.name: i.credit for i in stellarium_images(sky_folder)}
    assert images["a.jpg"] == "Observer A"
