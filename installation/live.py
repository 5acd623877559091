"""The live table (every live parameter: range, default, smoothing, OSC address) and the typed,
frozen Frame a snapshot is (`frame.warp.swirl`), both built from the schema's live fields."""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from dataclasses import fields as dataclass_fields

from installation.config import ShowConfig, live_fields


@dataclass(frozen=True)
class ParamSpec:
    key: str  # "section.name"
    lo: float
    hi: float
    default: float
    smoothing: float  # seconds
    doc: str

    @property
    def address(self) -> str:
        return "/installation/" + self.key.replace(".", "/")


def live_specs() -> list[ParamSpec]:
    """The live table: every live parameter of the schema, in schema order."""
    return list(_LIVE_SPECS)


def _live_table() -> tuple[ParamSpec, ...]:
    specs = []
    for section, name, f in live_fields():
        extra = f.json_schema_extra
        specs.append(ParamSpec(key=f"{section}.{name}", lo=float(extra["lo"]), hi=float(extra["hi"]),
                               default=float(f.default), smoothing=float(extra["smoothing"]), doc=f.description or ""))
    return tuple(specs)


_LIVE_SPECS = _live_table()


def _frame_types() -> tuple[type, dict[str, type]]:
    """One frozen dataclass per section with live fields (`LiveWarp(swirl=..., ...)`), and
    `Frame` holding one of each (`frame.warp.swirl`). Built from the schema: nothing to keep in step."""
    fields: dict[str, list[str]] = {}
    for spec in _LIVE_SPECS:
        section, name = spec.key.split(".")
        fields.setdefault(section, []).append(name)
    sections = {
        section: make_dataclass(f"Live{section.capitalize()}", [(n, float) for n in names], frozen=True)
        for section, names in fields.items()
    }
    frame = make_dataclass("Frame", [(section, cls) for section, cls in sections.items()], frozen=True,
                           namespace={k: v for k, v in vars(_FrameMethods).items() if k not in ("__dict__", "__weakref__")})
    return frame, sections


class _FrameMethods:
    """A frame also reads like the flat mapping it replaces: frame["warp.swirl"], keys(), items()."""

    @classmethod
    def from_values(cls, values=None):
        """From {'section.name': value}; missing keys take the schema's defaults, others are ignored.
        Values are not clamped here: Params.snapshot is the one place that clamps."""
        values = values or {}
        out = {}
        for section, section_cls in SECTION_VALUES.items():
            out[section] = section_cls(**{
                f.name: float(values.get(f"{section}.{f.name}", _DEFAULTS[f"{section}.{f.name}"]))
                for f in dataclass_fields(section_cls)
            })
        return cls(**out)

    @classmethod
    def defaults(cls):
        return cls.from_values({})

    def __getitem__(self, key: str) -> float:
        section, name = key.split(".")
        return getattr(getattr(self, section), name)

    def get(self, key: str, default=None):
        try:
            return self[key]
        except (AttributeError, ValueError):
            return default

    def __contains__(self, key) -> bool:
        return key in _DEFAULTS

    def keys(self):
        return _DEFAULTS.keys()

    def __iter__(self):
        return iter(_DEFAULTS)

    def items(self):
        return [(key, self[key]) for key in _DEFAULTS]


_DEFAULTS = {spec.key: spec.default for spec in _LIVE_SPECS}


def live_values(cfg: ShowConfig) -> dict[str, float]:
    """The show file's value of every live parameter, {'section.name': value}."""
    return {key: float(getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])) for key in _DEFAULTS}
Frame, SECTION_VALUES = _frame_types()
