"""The deep-sky sources: Stellarium's 559 deep-sky photographs (Debian's `stellarium-data`) plus the
Hubble XDF, their credit lines, and random crops and zooms of them for a training dataset."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from installation.train.dataset import DatasetError, decode_rgb, hubble_image_path

STELLARIUM_NEBULAE = Path("/usr/share/stellarium/nebulae/default")
STELLARIUM_COPYRIGHT = Path("/usr/share/doc/stellarium-data/copyright")
INSTALL_HINT = "apt-get install stellarium-data"
HUBBLE_CREDIT = "NASA, ESA, G. Illingworth, D. Magee, P. Oesch, R. Bouwens and the HUDF09 Team (public domain; shipped by scikit-image)"

# The smallest crop, as a share of the image's shorter side: tighter zooms of a 256 px source
# would only upsample blur.
MIN_ZOOM = 0.3


@dataclass(frozen=True)
class SkyImage:
    """One source photograph and the credit line its publisher asks for."""
    path: Path
    credit: str
    info_url: str = ""


def stellarium_dir() -> Path:
    """Where Stellarium's deep-sky images are: $INSTALLATION_STELLARIUM_DIR or Debian's path."""
    path = Path(os.environ.get("INSTALLATION_STELLARIUM_DIR", STELLARIUM_NEBULAE))
    if not (path / "textures.json").is_file():
        raise DatasetError(f"{path}: no Stellarium deep-sky images here (install them: {INSTALL_HINT})")
    return path


def read_textures_json(path: Path) -> dict:
    """Stellarium's textures.json, which writes numbers such as `-.9794` that strict JSON refuses."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable ({e})") from None
    text = re.sub(r"(?<=[\[,:\s])(-?)\.(\d)", r"\g<1>0.\2", text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not the JSON Stellarium writes ({e})") from None


def _credit_of(tile: dict) -> tuple[str, str]:
    credits = {k.lower(): v for k, v in (tile.get("imageCredits") or {}).items()}
    return str(credits.get("short", "")).strip(), str(credits.get("infourl", "")).strip()


def stellarium_images(folder: Path | None = None) -> list[SkyImage]:
    """Every deep-sky PNG with its credit line (from textures.json; the package's copyright file
    for the few images it does not list), sorted by file name."""
    folder = folder or stellarium_dir()
    meta = read_textures_json(folder / "textures.json")
    credits = {}
    for tile in meta.get("subTiles", []):
        if isinstance(tile, dict) and isinstance(tile.get("imageUrl"), str):
            credits[tile["imageUrl"]] = _credit_of(tile)
    images = []
    for path in sorted(folder.glob("*.png")):
        credit, url = credits.get(path.name, ("", ""))
        images.append(SkyImage(path, credit or f"see {STELLARIUM_COPYRIGHT}", url))
    if not images:
        raise DatasetError(f"{folder}: textures.json but no PNG images (reinstall them: {INSTALL_HINT})")
    return images


def deep_sky_sources() -> list[SkyImage]:
    """Stellarium's photographs plus the Hubble XDF (the deep field between the objects)."""
    return stellarium_images() + [SkyImage(hubble_image_path(), HUBBLE_CREDIT)]


def zoom_crop(im: Image.Image, res: int, rng: np.random.RandomState) -> Image.Image:
    """A random square crop between MIN_ZOOM and all of the shorter side (log-uniform, never
    smaller than res), resized to res, with a random flip and quarter turn (the sky has no up)."""
    w, h = im.size
    short = min(w, h)
    lo = min(short, max(res, MIN_ZOOM * short))
    side = int(round(math.exp(rng.uniform(math.log(lo), math.log(short)))))
    left = rng.randint(0, w - side + 1)
    top = rng.randint(0, h - side + 1)
    crop = im.crop((left, top, left + side, top + side))
    if side != res:
        crop = crop.resize((res, res), Image.LANCZOS)
    if rng.rand() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    k = rng.randint(4)
    if k:
        crop = crop.transpose([Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270][k - 1])
    return crop


def crops_per_source(total: int, count: int) -> list[int]:
    """Spread `total` crops evenly over `count` sources (the first ones get the remainder)."""
    base, extra = divmod(total, count)
    return [base + (i < extra) for i in range(count)]


def deep_sky_crops(sources: list[SkyImage], res: int, total: int, seed: int,
                   skipped: list[dict]) -> Iterator[tuple[Image.Image, SkyImage]]:
    """`total` crops spread evenly over the sources; a source that cannot be read or is smaller
    than half of res is skipped and reported in `skipped`."""
    rng = np.random.RandomState(seed)
    for source, n in zip(sources, crops_per_source(total, len(sources))):
        try:
            im = decode_rgb(source.path.read_bytes())
        except Exception as e:  # unreadable or corrupt: report it, never stop the tool
            skipped.append({"file": str(source.path), "reason": f"{type(e).__name__}: {e}"})
            continue
        if min(im.size) < res // 2:
            skipped.append({"file": str(source.path), "reason": f"too small ({im.size[0]}x{im.size[1]}) for {res} px"})
            continue
        for _ in range(n):
            yield zoom_crop(im, res, rng), source


def credits_text(used: list[SkyImage]) -> str:
    """The CREDITS file: one line per source image and its credit."""
    lines = [
        "Deep-sky dataset: random crops and zooms of these photographs.",
        f"Stellarium's deep-sky images (Debian package stellarium-data); licences: {STELLARIUM_COPYRIGHT}",
        "The Hubble eXtreme Deep Field: NASA/ESA, public domain.",
        "",
    ]
    for s in used:
        lines.append(f"{s.path.name}\t{s.credit}" + (f"\t{s.info_url}" if s.info_url else ""))
    return "\n".join(lines) + "\n"


DEFAULT_CROPS = 10000


def make_deep_sky_dataset(res: int, out: str | os.PathLike, *, crops: int | None = None, seed: int = 0,
                          progress: bool = True):
    """`crops` res x res crops and zooms of every deep-sky photograph plus the Hubble XDF, with a
    CREDITS file naming each source image and its credit line."""
    from installation.train.dataset import check_resolution, write_dataset

    check_resolution(res)
    crops = DEFAULT_CROPS if crops is None else crops
    sources = deep_sky_sources()
    if crops < len(sources):
        raise DatasetError(f"--crops {crops}: expected at least one per source image ({len(sources)})")
    skipped: list[dict] = []
    used: dict[Path, SkyImage] = {}

    def images() -> Iterator[Image.Image]:
        for im, source in deep_sky_crops(sources, res, crops, seed, skipped):
            used[source.path] = source
            yield im

    meta = {"resolution": res, "source": f"{stellarium_dir()} + {sources[-1].path}", "mode": "deep-sky",
            "crops": crops, "seed": seed, "min_zoom": MIN_ZOOM}
    return write_dataset(images(), crops, out, meta, skipped, progress=progress,
                         extra_files=lambda: {"CREDITS": credits_text(list(used.values())).encode()})
