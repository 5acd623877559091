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

from installation.train.dataset import DatasetError, decode_rgb, hubble_image_path, square_crop

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
    # .jpg: the compact copy benchmarks/gpu_train.sh carries to a GPU machine (credits keyed by .png).
    for path in sorted([*folder.glob("*.png"), *folder.glob("*.jpg")]):
        credit, url = credits.get(path.name) or credits.get(path.stem + ".png", ("", ""))
        images.append(SkyImage(path, credit or f"see {STELLARIUM_COPYRIGHT}", url))
    if not images:
        raise DatasetError(f"{folder}: textures.json but no PNG images (reinstall them: {INSTALL_HINT})")
    return images


def deep_sky_sources() -> list[SkyImage]:
    """Stellarium's photographs plus the Hubble XDF (the deep field between the objects)."""
    return stellarium_images() + [SkyImage(hubble_image_path(), HUBBLE_CREDIT)]


def zoom_crop(im: Image.Image, res: int, rng: np.random.RandomState, min_zoom: float = MIN_ZOOM) -> Image.Image:
    """A random square crop between min_zoom and all of the shorter side (log-uniform, never
    smaller than res), resized to res, with a random flip and quarter turn (the sky has no up)."""
    w, h = im.size
    short = min(w, h)
    lo = min(short, max(res, min_zoom * short))
    side = int(round(math.exp(rng.uniform(math.log(lo), math.log(short)))))
    return square_crop(im, side, res, rng, flips=True)


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
        im = _open_source(source, res, skipped)
        if im is not None:
            for _ in range(n):
                yield zoom_crop(im, res, rng), source


def _open_source(source: SkyImage, res: int, skipped: list[dict]) -> Image.Image | None:
    """The photograph as RGB, or None (reported in `skipped`) if unreadable or smaller than res / 2."""
    try:
        im = decode_rgb(source.path.read_bytes())
    except Exception as e:  # unreadable or corrupt: report it, never stop the tool
        skipped.append({"file": str(source.path), "reason": f"{type(e).__name__}: {e}"})
        return None
    if min(im.size) < res // 2:
        skipped.append({"file": str(source.path), "reason": f"too small ({im.size[0]}x{im.size[1]}) for {res} px"})
        return None
    return im


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


# --- by type: a folder-per-class dataset for `train-dreamer` --------------------------------

# A crop of at least half the shorter side, anywhere in a square photograph, always holds the
# photograph's centre: the object the label names stays in every crop.
TYPE_MIN_ZOOM = 0.5
DEFAULT_TYPE_CROPS = 6000
MIN_CLASS_IMAGES = 10  # a type with fewer photographs merges into "other" (too few to learn, or to validate)
GROUPS_NAME = "groups.json"  # crop file -> its source photograph (train-dreamer splits by source)
XDF_CLASS = "galaxy"  # the Hubble XDF is a field of galaxies


def _merge_small(labels: dict[str, list[SkyImage]], min_images: int) -> tuple[dict[str, list[SkyImage]], list[str]]:
    """Types with fewer than min_images photographs go into 'other'; an 'other' still that small
    is left out. Returns (classes, notes)."""
    notes = []
    out: dict[str, list[SkyImage]] = {}
    other = list(labels.get("other", []))
    for cls, images in labels.items():
        if cls == "other":
            continue
        if len(images) < min_images:
            notes.append(f"{cls}: {len(images)} photograph(s), fewer than {min_images}: merged into 'other'")
            other += images
        else:
            out[cls] = images
    if other and len(other) < min_images:
        notes.append(f"other: {len(other)} photograph(s), fewer than {min_images}: left out")
    elif other:
        out["other"] = other
    return out, notes


def sky_type_labels(folder: Path | None = None):
    """(SkyImage, Label) for every Stellarium photograph, typed from catalog.dat; plus the XDF."""
    from installation.train.skycatalog import Label, SkyIndex, label_images, read_catalog

    folder = folder or stellarium_dir()
    catalog = folder / "catalog.dat"
    if not catalog.is_file():
        raise DatasetError(f"{catalog}: Stellarium's DSO catalogue is missing (it gives each object's type; "
                           f"reinstall it: {INSTALL_HINT})")
    _version, objects = read_catalog(catalog)
    images = stellarium_images(folder)
    labels = label_images(read_textures_json(folder / "textures.json"), SkyIndex(objects),
                          [i.path.name for i in images])
    xdf = SkyImage(hubble_image_path(), HUBBLE_CREDIT)
    return list(zip(images, labels)) + [(xdf, Label(xdf.path.name, XDF_CLASS, "XDF", None))]


def make_deep_sky_type_dataset(res: int, out: str | os.PathLike, *, crops: int | None = None, seed: int = 0,
                               min_images: int = MIN_CLASS_IMAGES, progress: bool = True, log=print):
    """OUT/<class>/<source>_<k>.png: crops and zooms of every typed photograph, the same number
    of crops per class (spread over its photographs), plus groups.json (crop -> source photograph),
    CREDITS and dataset.json. Prints the class counts."""
    from installation.train.dataset import check_resolution, write_dataset

    check_resolution(res)
    crops = DEFAULT_TYPE_CROPS if crops is None else crops
    typed = sky_type_labels()
    by_class: dict[str, list[SkyImage]] = {}
    how = {image.path.name: label.how for image, label in typed}
    for image, label in typed:
        by_class.setdefault(label.cls, []).append(image)
    classes, notes = _merge_small(by_class, min_images)
    if len(classes) < 2:
        raise DatasetError(f"{stellarium_dir()}: only {len(classes)} type(s) with {min_images}+ photographs; "
                           "need at least 2 classes")
    per_class = crops // len(classes)
    if per_class < max(len(v) for v in classes.values()):
        raise DatasetError(f"--crops {crops}: expected at least one crop per photograph of each class "
                           f"({max(len(v) for v in classes.values())} x {len(classes)} classes)")
    rng = np.random.RandomState(seed)
    groups, used, counts = {}, [], {}
    skipped: list[dict] = []

    def typed_crops() -> Iterator[tuple[str, Image.Image]]:
        for cls in sorted(classes):
            written, photographs, labelled_by = 0, 0, {}
            sources = classes[cls]
            for source, n in zip(sources, crops_per_source(per_class, len(sources))):
                im = _open_source(source, res, skipped)
                if im is None:
                    continue
                used.append(source)
                photographs += 1
                labelled_by[how[source.path.name]] = labelled_by.get(how[source.path.name], 0) + 1
                for k in range(n):
                    name = f"{cls}/{source.path.stem}_{k:03d}.png"
                    groups[name] = source.path.name
                    written += 1
                    yield name, zoom_crop(im, res, rng, TYPE_MIN_ZOOM)
            if not written:
                raise DatasetError(f"class {cls!r}: none of its {len(sources)} photographs could be read")
            counts[cls] = {"photographs": photographs, "crops": written, "labelled_by": labelled_by}

    meta = {"resolution": res, "source": f"{stellarium_dir()} + {typed[-1][0].path}", "mode": "deep-sky-by-type",
            "crops": crops, "seed": seed, "min_zoom": TYPE_MIN_ZOOM, "min_images": min_images, "classes": counts,
            "notes": notes, "labels": {lab.image: [lab.cls, lab.how, lab.object_type] for _, lab in typed}}
    write_dataset(typed_crops(), per_class * len(classes), out, meta, skipped, progress=progress,
                  extra_files=lambda: {GROUPS_NAME: json.dumps(groups, indent=0).encode(),
                                       "CREDITS": credits_text(used).encode()})
    for note in notes:
        log(note)
    log(f"{'class':<18} {'photographs':>11} {'by name':>8} {'by position':>11} {'crops':>6}")
    for cls, c in sorted(counts.items()):
        by = c["labelled_by"]
        log(f"{cls:<18} {c['photographs']:>11} {by.get('name', 0):>8} {by.get('position', 0):>11} {c['crops']:>6}")
    return counts
