"""The dataset tool: folder and zip sources, unreadable files skipped and reported, metadata, loading."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from installation.train.dataset import DatasetError, ImageDataset, make_dataset, read_metadata


def _write_sources(folder):
    """Three readable images (jpg, png, webp, one in a subfolder, different sizes) and one broken file."""
    rng = np.random.RandomState(0)
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.randint(0, 255, (40, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.randint(0, 255, (20, 50, 3), dtype=np.uint8)).save(folder / "sub" / "b.jpg")
    Image.fromarray(rng.randint(0, 255, (16, 16), dtype=np.uint8), mode="L").save(folder / "c.webp")
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image")


def _check_dataset(out, count, res):
    meta = read_metadata(out)
    assert meta["count"] == count and meta["resolution"] == res and meta["channels"] == 3
    assert [s["file"] for s in meta["skipped"]] == ["broken.jpg"]
    ds = ImageDataset(out)
    assert tuple(ds.images.shape) == (count, 3, res, res)
    assert str(ds.images.dtype) == "torch.uint8"
    return ds


def test_folder_source_round_trip(tmp_path, capsys):
    src = tmp_path / "src"
    _write_sources(src)
    rep = make_dataset(str(src), 16, tmp_path / "ds", progress=False)
    assert rep.count == 3 and len(rep.skipped) == 1
    assert "broken.jpg" in capsys.readouterr().err  # reported, not silently dropped
    ds = _check_dataset(tmp_path / "ds", 3, 16)
    # First file (sorted): a.png 30 wide x 40 high -> centre 30x30 square, resized to 16.
    expected = np.asarray(Image.open(src / "a.png").crop((0, 5, 30, 35)).resize((16, 16), Image.LANCZOS))
    np.testing.assert_array_equal(ds.images[0].permute(1, 2, 0).numpy(), expected)


def test_zip_source_to_zip_dataset_with_random_crops(tmp_path):
    src = tmp_path / "src"
    _write_sources(src)
    zpath = tmp_path / "src.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())
    rep = make_dataset(str(zpath), 8, tmp_path / "ds.zip", crops=2, progress=False)
    assert rep.count == 6
    with zipfile.ZipFile(tmp_path / "ds.zip") as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read("dataset.json"))
    assert "dataset.json" in names and len(names) == 7
    assert meta["mode"] == "random-crops"
    _check_dataset(tmp_path / "ds.zip", 6, 8)


def test_hubble_dataset(tmp_path):
    rep = make_dataset(None, 16, tmp_path / "h", crops=5, hubble=True, progress=False)
    meta = read_metadata(tmp_path / "h")
    assert rep.count == 5 and meta["mode"] == "hubble" and meta["source"].endswith("hubble_deep_field.jpg")
    imgs = ImageDataset(tmp_path / "h").images.float()
    assert imgs.mean() < 100  # a deep field is mostly dark sky


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="nothing-here"):
        make_dataset(str(tmp_path / "nothing-here"), 16, tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="power of two"):
        make_dataset(None, 20, tmp_path / "out", hubble=True, crops=1, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        ImageDataset(tmp_path / "empty")
