"""Which kind of object each of Stellarium's deep-sky photographs shows.

Stellarium's DSO catalogue (`catalog.dat`, gzip) gives every object's type, position and
designations; `textures.json` gives every photograph's corners on the sky. An image gets the
type of the object its file name names (m31.png -> M 31, n7293 -> NGC 7293, ic1805,
barnard33, sh2-132, ldn673, ...), else of the largest catalogued object near its centre.

The catalogue is a Qt QDataStream (big-endian; floats written as 64-bit doubles; a QString is
a uint32 byte length, 0xFFFFFFFF for null, then UTF-16BE): a header of two strings (version,
edition), then one record per object in the field order of Stellarium's `Nebula::readDSO`
(src/core/modules/Nebula.cpp). This reader is ours, written from that description.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from installation.train.dataset import DatasetError

# Stellarium's NebulaType numbers (Nebula.hpp) -> our classes. SNRs and HII regions are
# emission nebulae to the eye; molecular clouds are dark nebulae; a cluster of galaxies is
# photographed as galaxies.
TYPE_CLASS = {
    0: "galaxy", 1: "galaxy", 2: "galaxy", 3: "galaxy", 4: "galaxy", 33: "galaxy", 34: "galaxy",
    5: "open_cluster", 6: "open_cluster", 8: "open_cluster", 9: "open_cluster",
    7: "globular_cluster",
    10: "nebula", 13: "nebula", 14: "nebula", 15: "nebula", 16: "nebula", 17: "nebula", 18: "nebula",
    19: "nebula", 20: "nebula", 32: "nebula",
    11: "planetary_nebula", 26: "planetary_nebula", 27: "planetary_nebula",
    12: "dark_nebula", 23: "dark_nebula",
}
NOT_A_TARGET = {28, 29, 30, 36}  # stars and unknowns: never what a photograph is of
CLASSES = ("galaxy", "nebula", "planetary_nebula", "globular_cluster", "open_cluster", "dark_nebula", "other")

# Record layout after the header, in Nebula::readDSO's order: I uint32, d double, i int32, S QString.
_FIELDS = ("I dso", "d ra", "d dec", "d bmag", "d vmag", "I type", "S mtype", "d major", "d minor", "i angle",
           "d z", "d z_err", "d plx", "d plx_err", "d dist", "d dist_err",
           "I NGC", "I IC", "I M", "I C", "I B", "I Sh2", "I VdB", "I RCW", "I LDN", "I LBN", "I Cr", "I Mel",
           "I PGC", "I UGC", "S Ced", "I Arp", "I VV", "S PK", "S PNG", "S SNRG", "S ACO", "S HCG", "S ESO",
           "S VdBH", "I DWB", "I Tr", "I St", "I Ru", "I VdBHa")
# Designations a file name can carry, as they appear in the record.
NAMED_CATALOGUES = ("M", "NGC", "IC", "B", "Sh2", "LDN", "LBN", "RCW", "VdB", "UGC", "PGC")


@dataclass(frozen=True)
class DSO:
    """One catalogued object: position in degrees (J2000), type number, size in degrees."""
    ra: float
    dec: float
    type: int
    major: float
    mag: float  # V, else B; 99 when unknown
    ids: tuple[tuple[str, int], ...]  # (catalogue, number) for the numbered catalogues it is in

    @property
    def cls(self) -> str:
        return TYPE_CLASS.get(self.type, "other")


def read_catalog(path: Path) -> tuple[str, list[DSO]]:
    """Stellarium's catalog.dat (gzip or plain) -> (version, objects). One clear error if it is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DatasetError(f"{path}: unreadable DSO catalogue ({e})") from None
    pos = 0

    def qstring() -> str:
        nonlocal pos
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if n == 0xFFFFFFFF:
            return ""
        s = data[pos:pos + n].decode("utf-16-be")
        pos += n
        return s

    objects: list[DSO] = []
    try:
        version, _edition = qstring(), qstring()
        while pos < len(data):
            rec = {}
            for spec in _FIELDS:
                kind, name = spec.split()
                if kind == "S":
                    rec[name] = qstring()
                else:
                    fmt = {"I": ">I", "i": ">i", "d": ">d"}[kind]
                    (rec[name],) = struct.unpack_from(fmt, data, pos)
                    pos += struct.calcsize(fmt)
            mag = rec["vmag"] if rec["vmag"] < 90 else rec["bmag"]
            ids = tuple((c, rec[c]) for c in NAMED_CATALOGUES if rec[c])
            objects.append(DSO(math.degrees(rec["ra"]) % 360, math.degrees(rec["dec"]), int(rec["type"]),
                               float(rec["major"]), float(mag), ids))
    except (struct.error, UnicodeDecodeError):
        raise DatasetError(f"{path}: not a Stellarium DSO catalogue in the layout this reader knows "
                           f"(record {len(objects) + 1} is cut short at byte {pos})") from None
    if not objects or any(not (-90.5 <= o.dec <= 90.5) for o in objects[:100]):
        raise DatasetError(f"{path}: not a Stellarium DSO catalogue (no objects with sky positions)")
    return version, objects


# --- file names -> designations ------------------------------------------------------------

_NAME_PATTERNS = [  # (regex on the lower-case file stem, catalogue)
    (r"m(\d+)", "M"), (r"n(\d+)", "NGC"), (r"ic(\d+)", "IC"), (r"barnard(\d+)", "B"), (r"sh2-(\d+)", "Sh2"),
    (r"ldn(\d+)", "LDN"), (r"lbn(\d+)", "LBN"), (r"rcw(\d+)", "RCW"), (r"vdb(\d+)", "VdB"), (r"u(\d+)", "UGC"),
    (r"p(\d+)", "PGC"),
]


def designation_of(filename: str) -> tuple[str, int] | None:
    """'m31.png' -> ('M', 31); 'n4038-9.png' -> ('NGC', 4038); 'sh2-132.png' -> ('Sh2', 132); else None.
    (Photographers' suffixes such as -vasey, -dss, dumont, oleg follow the number and are ignored.)"""
    stem = Path(filename).stem.lower()
    for pattern, catalogue in _NAME_PATTERNS:
        m = re.match(pattern + r"(?![\d])", stem)
        if m:
            return catalogue, int(m.group(1))
    return None


# --- sky positions -------------------------------------------------------------------------


def _unit(ra: float, dec: float) -> tuple[float, float, float]:
    r, d = math.radians(ra), math.radians(dec)
    return math.cos(d) * math.cos(r), math.cos(d) * math.sin(r), math.sin(d)


def _separation(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Angle between two unit vectors, degrees."""
    dot = max(-1.0, min(1.0, a[0] * b[0] + a[1] * b[1] + a[2] * b[2]))
    return math.degrees(math.acos(dot))


def image_centre(corners: list[list[float]]) -> tuple[tuple[float, float, float], float]:
    """worldCoords corners [[ra, dec] x 4] -> (centre unit vector, half the shorter side in degrees)."""
    vs = [_unit(ra, dec) for ra, dec in corners]
    s = [sum(v[i] for v in vs) for i in range(3)]
    n = math.sqrt(sum(c * c for c in s)) or 1.0
    centre = (s[0] / n, s[1] / n, s[2] / n)
    sides = [_separation(vs[i], vs[(i + 1) % len(vs)]) for i in range(len(vs))]
    return centre, 0.5 * min(sides)


class SkyIndex:
    """The catalogue, looked up by designation and by position."""

    def __init__(self, objects: list[DSO]):
        self.objects = [o for o in objects if o.type not in NOT_A_TARGET]
        self.by_id: dict[tuple[str, int], DSO] = {}
        for o in self.objects:
            for key in o.ids:
                self.by_id.setdefault(key, o)
        self._vecs = [_unit(o.ra, o.dec) for o in self.objects]

    def near(self, centre: tuple[float, float, float], radius: float) -> DSO | None:
        """The object a photograph centred here, `radius` degrees to its shorter edge, is of:
        among the objects within that radius of the centre, the largest (then the brightest)."""
        cos_r = math.cos(math.radians(radius))
        best, key = None, None
        for o, v in zip(self.objects, self._vecs):
            if v[0] * centre[0] + v[1] * centre[1] + v[2] * centre[2] >= cos_r:
                k = (o.major, -o.mag)
                if key is None or k > key:
                    best, key = o, k
        return best


@dataclass(frozen=True)
class Label:
    image: str
    cls: str
    how: str  # "name", "position" or "none"
    object_type: int | None


def label_images(textures: dict, index: SkyIndex, files: list[str]) -> list[Label]:
    """A class for each image file: by its file name's designation, else by its sky position."""
    corners = {}
    for tile in textures.get("subTiles", []):
        if isinstance(tile, dict) and isinstance(tile.get("imageUrl"), str):
            wc = tile.get("worldCoords")
            if isinstance(wc, list) and wc and isinstance(wc[0], list) and len(wc[0]) >= 3:
                corners[tile["imageUrl"]] = wc[0]
    labels = []
    for name in files:
        ident = designation_of(name)
        obj = index.by_id.get(ident) if ident else None
        how = "name" if obj else "none"
        if obj is None and name in corners:
            centre, radius = image_centre(corners[name])
            obj = index.near(centre, radius)
            how = "position" if obj else "none"
        labels.append(Label(name, obj.cls if obj else "other", how, obj.type if obj else None))
    return labels
