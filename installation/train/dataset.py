"""The dataset tool and the in-memory training dataset.

A dataset is a folder (or a .zip) of RGB PNGs, all R x R, plus `dataset.json`:
    {"format": "installation.dataset", "version": 1, "resolution": R, "channels": 3,
     "count": N, "source": "...", "mode": "center-crop" | "random-crops" | "hubble",
     "files": ["00000000.png", ...], "skipped": [{"file": ..., "reason": ...}, ...]}
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from installation.models.limits import MAX_RESOLUTION  # the largest model we would load

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
METADATA_NAME = "dataset.json"
DATASET_FORMAT = "installation.dataset"


class DatasetError(ValueError):
    """Bad input to the dataset tool or loader; the message names the file."""


# --------------------------------------------------------------------------- sources


@dataclass
class SourceImage:
    name: str                        # path relative to the source, for reports
    read_bytes: Callable[[], bytes]


def _is_image_name(name: str) -> bool:
    base = os.path.basename(name)
    return name.lower().endswith(IMAGE_SUFFIXES) and not base.startswith(".")


def list_source_images(src: str | os.PathLike) -> list[SourceImage]:
    """Every image file under a folder (recursive) or inside a zip, sorted by name."""
    src = Path(src)
    if not src.exists():
        raise DatasetError(f"{src}: no such file or folder (expected a folder or .zip of images)")
    if src.is_dir():
        paths = sorted(p for p in src.rglob("*") if p.is_file() and _is_image_name(p.name))
        return [SourceImage(str(p.relative_to(src)), p.read_bytes) for p in paths]
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as zf:
            names = sorted(n for n in zf.namelist() if not n.endswith("/") and _is_image_name(n))

        def reader(n: str) -> Callable[[], bytes]:
            def read() -> bytes:
                with zipfile.ZipFile(src) as zf:
                    return zf.read(n)
            return read

        return [SourceImage(n, reader(n)) for n in names]
    raise DatasetError(f"{src}: not a folder or a .zip archive (expected images: {', '.join(IMAGE_SUFFIXES)})")


def decode_rgb(data: bytes) -> Image.Image:
    """Decode image bytes into an RGB PIL image (raises on anything unreadable)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            # Composite transparency onto black: the sky of a deep field, and a neutral choice elsewhere.
            im = im.convert("RGBA")
            black = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(black, im)
        return im.convert("RGB")


# --------------------------------------------------------------------------- crops


def center_crop_resize(im: Image.Image, res: int) -> Image.Image:
    """Scale so the shorter side is `res`, then cut the centre square."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    return im.resize((res, res), Image.LANCZOS) if side != res else im


def random_crop(im: Image.Image, res: int, rng: np.random.RandomState, max_scale: float = 1.0,
                flips: bool = False) -> Image.Image:
    """A random square crop of side res * s (s log-uniform in [1, max_scale], clipped to the image),
    resized to res; optionally a random flip and rot90 (for imagery with no up, like the sky)."""
    w, h = im.size
    scale = math.exp(rng.uniform(0.0, math.log(max(max_scale, 1.0))))
    side = int(round(min(res * scale, w, h)))
    return square_crop(im, side, res, rng, flips)


def square_crop(im: Image.Image, side: int, res: int, rng: np.random.RandomState, flips: bool) -> Image.Image:
    """A side x side square at a random place, resized to res; optionally a random flip and quarter
    turn (for imagery with no up, like the sky)."""
    w, h = im.size
    left = rng.randint(0, w - side + 1)
    top = rng.randint(0, h - side + 1)
    crop = im.crop((left, top, left + side, top + side))
    if side != res:
        crop = crop.resize((res, res), Image.LANCZOS)
    if flips:
        if rng.rand() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        k = rng.randint(4)
        if k:
            crop = crop.transpose([Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270][k - 1])
    return crop


def hubble_image_path() -> Path:
    """The Hubble eXtreme Deep Field JPEG that scikit-image ships in its package (no download)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage.data")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("scikit-image is not installed: it ships the Hubble Deep Field image (pip install scikit-image)")
    path = Path(list(spec.submodule_search_locations)[0]) / "hubble_deep_field.jpg"
    if not path.is_file():
        raise DatasetError(f"{path}: missing from the scikit-image install (expected the bundled Hubble Deep Field JPEG)")
    return path


# --------------------------------------------------------------------------- writers


class _Writer:
    """Writes PNGs into a folder or a zip under a hidden partial name, renamed into place only when
    complete: an interrupted or failed build never leaves something that looks like a dataset."""

    def __init__(self, out: Path):
        self.out = out
        self.is_zip = out.suffix.lower() == ".zip"
        if out.exists() and not (out.is_file() if self.is_zip else _replaceable_folder(out)):
            raise DatasetError(f"{out}: exists and is not a dataset (choose another --out)")
        self.partial = out.parent / f".{out.name}.partial"
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove(self.partial)
        if self.is_zip:
            self._zip = zipfile.ZipFile(self.partial, "w", compression=zipfile.ZIP_STORED)
        else:
            self.partial.mkdir()

    def write(self, name: str, data: bytes) -> None:
        if self.is_zip:
            self._zip.writestr(name, data)
        else:
            (self.partial / name).parent.mkdir(parents=True, exist_ok=True)  # 'class/file.png' datasets
            (self.partial / name).write_bytes(data)

    def commit(self) -> None:
        """Put the finished dataset in place (replacing an older dataset of the same name)."""
        if self.is_zip:
            self._zip.close()
        _remove(self.out)
        os.replace(self.partial, self.out)

    def abandon(self) -> None:
        if self.is_zip:
            self._zip.close()
        _remove(self.partial)


def _replaceable_folder(path: Path) -> bool:
    return path.is_dir() and ((path / METADATA_NAME).is_file() or not any(path.iterdir()))


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass
class DatasetReport:
    out: str
    count: int
    resolution: int
    skipped: list[dict] = field(default_factory=list)


def check_resolution(res: int) -> None:
    if res < 4 or res > MAX_RESOLUTION or res & (res - 1):
        raise DatasetError(f"--res {res}: expected a power of two from 4 to {MAX_RESOLUTION} "
                           "(the generator doubles resolution per block)")


def _generate_images(src: str | None, res: int, crops: int | None, hubble: bool, seed: int,
                     max_scale: float) -> tuple[Iterator[Image.Image], int, list[dict], str, str]:
    rng = np.random.RandomState(seed)
    skipped: list[dict] = []
    if hubble:
        path = hubble_image_path()
        image = decode_rgb(path.read_bytes())
        n = crops or 4000

        def hubble_iter() -> Iterator[Image.Image]:
            for _ in range(n):
                yield random_crop(image, res, rng, max_scale=max_scale, flips=True)

        return hubble_iter(), n, skipped, str(path), "hubble"

    if src is None:
        raise DatasetError("no source given: pass a folder or .zip of images, or --hubble")
    sources = list_source_images(src)
    if not sources:
        raise DatasetError(f"{src}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    per_image = crops or 1
    total = len(sources) * per_image

    def source_iter() -> Iterator[Image.Image]:
        for s in sources:
            try:
                im = decode_rgb(s.read_bytes())
            except Exception as e:  # unreadable/corrupt/unsupported: skip and report, never stop the tool
                skipped.append({"file": s.name, "reason": f"{type(e).__name__}: {e}"})
                continue
            if crops:
                for _ in range(crops):
                    yield random_crop(im, res, rng, max_scale=max_scale)
            else:
                yield center_crop_resize(im, res)

    return source_iter(), total, skipped, str(src), "random-crops" if crops else "center-crop"


def write_dataset(images: Iterator[Image.Image | tuple[str, Image.Image]], total: int, out: str | os.PathLike,
                  meta: dict, skipped: list[dict], *, extra_files: Callable[[], dict[str, bytes]] | None = None,
                  progress: bool = True) -> DatasetReport:
    """Write the images as numbered PNGs (or under the names that come with them, as
    (name, image) pairs) plus dataset.json (and `extra_files()`, called once the images are
    written) at `out`, atomically; `meta` adds to the metadata (read once the images are written)."""
    from tqdm import tqdm

    out = Path(out)
    writer = _Writer(out)
    files: list[str] = []
    try:
        for item in tqdm(images, total=total, desc="dataset", unit="img", disable=not progress):
            name, im = item if isinstance(item, tuple) else (f"{len(files):08d}.png", item)
            writer.write(name, _png_bytes(im))
            files.append(name)
        if not files:
            raise DatasetError(f"{meta.get('source')}: none of the images could be read ({len(skipped)} skipped)")
        for name, data in (extra_files() if extra_files else {}).items():
            writer.write(name, data)
        full = {"format": DATASET_FORMAT, "version": 1, "channels": 3, **meta, "count": len(files),
                "files": files, "skipped": skipped}
        writer.write(METADATA_NAME, json.dumps(full, indent=1).encode())
    except BaseException:
        writer.abandon()
        raise
    writer.commit()
    for s in skipped:
        print(f"skipped {s['file']}: {s['reason']}", file=sys.stderr)
    return DatasetReport(str(out), len(files), int(meta["resolution"]), skipped)


def make_dataset(src: str | None, res: int, out: str | os.PathLike, *, crops: int | None = None,
                 hubble: bool = False, seed: int = 0, max_scale: float | None = None,
                 progress: bool = True) -> DatasetReport:
    """Build a dataset of res x res PNGs at `out` (folder, or .zip if the name ends so)."""
    check_resolution(res)
    if crops is not None and crops < 1:
        raise DatasetError(f"--crops {crops}: expected a positive count")
    if max_scale is None:
        max_scale = 4.0 if hubble else 1.0
    images, total, skipped, source, mode = _generate_images(src, res, crops, hubble, seed, max_scale)
    meta = {"resolution": res, "source": source, "mode": mode, "crops": crops, "seed": seed, "max_scale": max_scale}
    return write_dataset(images, total, out, meta, skipped, progress=progress)


# --------------------------------------------------------------------------- loading


def read_metadata(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        if path.is_dir():
            raw = (path / METADATA_NAME).read_bytes()
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                raw = zf.read(METADATA_NAME)
        else:
            raise DatasetError(f"{path}: not a dataset folder or .zip (make one with `installation dataset`)")
    except (FileNotFoundError, KeyError):
        raise DatasetError(f"{path}: no {METADATA_NAME} inside (make the dataset with `installation dataset`)") from None
    meta = json.loads(raw)
    if meta.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{path}/{METADATA_NAME}: format is {meta.get('format')!r}, expected {DATASET_FORMAT!r}")
    return meta


class ImageDataset:
    """The whole dataset in memory as uint8 [N, 3, R, R] (small datasets: 5000 x 64^2 RGB is ~60 MB)."""

    def __init__(self, path: str | os.PathLike, progress: bool = False):
        from tqdm import tqdm
        import torch

        self.path = Path(path)
        self.meta = read_metadata(self.path)
        self.resolution = int(self.meta["resolution"])
        files = self.meta["files"]
        if not files:
            raise DatasetError(f"{self.path}: dataset holds no images")
        images = np.empty((len(files), self.resolution, self.resolution, 3), dtype=np.uint8)
        zf = zipfile.ZipFile(self.path) if not self.path.is_dir() else None
        try:
            for i, name in enumerate(tqdm(files, desc="load dataset", disable=not progress)):
                data = zf.read(name) if zf else (self.path / name).read_bytes()
                arr = np.asarray(decode_rgb(data))
                if arr.shape != images.shape[1:]:
                    raise DatasetError(f"{self.path}/{name}: shape {arr.shape}, expected {images.shape[1:]}")
                images[i] = arr
        finally:
            if zf:
                zf.close()
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # [N, 3, R, R] uint8

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample(self, batch: int, generator):
        """A random minibatch as float in [-1, 1]: [batch, 3, R, R]."""
        import torch

        idx = torch.randint(len(self), (batch,), generator=generator)
        return self.images[idx].float() / 127.5 - 1.0
