"""The show schema: one validated TOML file per show, plus `--set a.b=v` overrides.

Every field has a comment (its `description`). Fields made with `live(...)` are live
parameters (`live_fields`); installation/live.py builds their table and the typed, frozen
`Frame` (`frame.warp.swirl`) from them, which `params.Params.snapshot` hands the frame loop.
OSC addresses them as `/installation/<section>/<name>`, shaders name their uniforms after
them, and their range is the clamp range. The README's OSC address list is generated from
this file, so it is the one source of truth.

Unknown keys and wrong types are errors that name the key and the file, raised before
the first frame.
"""

from __future__ import annotations

import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from installation.control.network import is_loopback_host, parse_host_port, parse_networks
from installation.render.pigment import PigmentParams
from installation.render.tone import ToneParams
from installation.show_text import ShowConfigError, apply_override, parse_override, parse_show_text


def live(default: float, lo: float, hi: float, doc: str, smoothing: float = 0.15) -> Any:
    """A live parameter: a float in [lo, hi] that OSC, audio and cues may change mid-show.

    `smoothing` is the time constant in seconds that the frame loop eases new values with.
    """
    return Field(
        default,
        ge=lo,
        le=hi,
        description=doc,
        json_schema_extra={"live": True, "lo": lo, "hi": hi, "smoothing": smoothing},
    )


# Bounds on what a show file may list (a 1.4 M-seed file took minutes to set up).
MAX_SEED = 2**32 - 1        # numpy.random.RandomState(seed), as NVlabs' generate.py
MAX_KEYFRAMES = 4096        # seeds or w files in one trajectory
MAX_ENTRIES = 1024          # mappings, scenes, cues, allowed networks
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ShowSection(Section):
    name: str = Field("untitled", description="Shown in logs and OSC status replies.")
    width: int = Field(1280, ge=16, le=8192, description="Output width in pixels (window and recording).")
    height: int = Field(720, ge=16, le=8192, description="Output height in pixels (window and recording).")
    fps: float = Field(30.0, gt=0, le=240, description="Display and recording frame rate.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds every random choice of the show, so renders repeat exactly.")
    render_scale: float = Field(
        1.0, ge=0.25, le=1.0,
        description="Warp and feedback are drawn at this fraction of width x height, then upscaled (0.5: ~2x faster on a CPU renderer).",
    )
    fit: Literal["tiles", "cover", "stretch", "tile"] = Field(
        "tiles",
        description="How the model's frames fill the output: 'tiles' (random rotated tiles, soft seams, no mirror; pigment.fill_* "
                    "shape them; without the pigment flow: 'cover'), 'cover' (keep aspect, crop; bicubic in the pigment flow), "
                    "'stretch', or 'tile' (mirrored copies; see show.tiles).",
    )
    tiles: float = Field(
        2.0, ge=0.25, le=16.0,
        description="fit = 'tile': how many mirrored copies of the frame span the output's height (a 64 px model magnified less).",
    )
    upscale: Literal["none", "learned"] = Field(
        "none", description="'learned': each model frame is upscaled x4 by show.upscaler before the dream and the shaders "
                            "(sharper stars and edges than the shaders' own upscale; ~9 ms for 128 -> 512 on one core).")
    upscaler: str = Field("../checkpoints/deepsky-x4.pt",
                          description="show.upscale = 'learned': the upscaler file (installation train-upscaler), relative to the show file.")
    shaders: str | None = Field(None, description="Folder of GLSL passes, relative to the show file (none: the shipped shaders/).")
    hot_reload: bool = Field(True, description="Live shows: re-read this file and the shaders when they change on disk.")
    start_cue: int | None = Field(0, ge=0, description="Cue entered when the show starts (fading from the base values); none: wait for a cue.")
    scene_fade: float = Field(2.0, ge=0, le=600, description="Fade in seconds when a scene is chosen directly (OSC /installation/scene).")


class ModelSection(Section):
    checkpoint: str = Field(
        "../checkpoints/hubble64.pt",
        description="Generator checkpoint, relative to the show file; 'random:SEED' builds an untrained stand-in.",
    )
    device: str = Field("auto", description="'auto' (CUDA if present, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
    noise: Literal["keyframe", "const", "random", "none"] = Field(
        "keyframe", description="Per-layer noise: 'keyframe' (each keyframe its own maps, blended along the walk), "
                                "'const' (one map, frozen), 'random' (new every frame), 'none'.")
    truncation_cutoff: int | None = Field(None, ge=0, description="Apply truncation only to the first N ws (None: all).")
    threads: int = Field(0, ge=0, le=256, description="torch CPU threads for the generator worker (0: choose).")


class LatentSection(Section):
    mode: Literal["slerp_z", "lerp_w", "walk"] = Field(
        "slerp_z", description="slerp_z: great circles between keyframe z's; lerp_w: straight lines in W; walk: smooth random walk."
    )
    seeds: list[Seed] = Field([1, 2, 3, 4, 5, 6], max_length=MAX_KEYFRAMES,
                              description="Keyframes as NVlabs-compatible seeds (each 0..2^32-1).")
    w_files: list[str] = Field([], max_length=MAX_KEYFRAMES, description="Keyframes as saved w's (.npy, e.g. from `installation project`), relative to the show file.")
    seconds_per_keyframe: float = Field(6.0, gt=0, description="Travel time from one keyframe to the next at speed 1.")
    loop: bool = Field(True, description="Return from the last keyframe to the first, seamlessly.")
    speed: float = live(1.0, 0.0, 8.0, "Multiplier on the travel speed; 0 holds the current image.")
    truncation: float = live(0.7, 0.0, 1.5, "Truncation psi: 0 is the average image, 1 the full variety.")
    walk_step: float = live(0.35, 0.0, 2.0, "Random-walk mode: how far the walk wanders per keyframe interval.")
    beats_per_keyframe: float = live(0.0, 0.0, 64.0, "While a tempo is known (audio or Link): a keyframe every this many beats, arriving on a beat; speed is then ignored (0: off).", smoothing=0.0)


class CrossfadeSection(Section):
    enabled: bool = Field(True, description="Blend the last two content frames so a slow generator looks smooth.")


class WarpSection(Section):
    swirl: float = live(0.6, -10.0, 10.0, "Swirl strength in radians at the centre.")
    swirl_radius: float = live(0.45, 0.01, 2.0, "Swirl falloff radius, in units of the image height.")
    swirl_x: float = live(0.5, 0.0, 1.0, "Swirl centre, x (0 left, 1 right).")
    swirl_y: float = live(0.5, 0.0, 1.0, "Swirl centre, y (0 bottom, 1 top).")
    swirl_speed: float = live(0.3, -10.0, 10.0, "How fast the swirl angle oscillates over time (Hz).")
    flow: float = live(0.01, 0.0, 0.2, "Curl-noise flow warp strength (fraction of the image per frame).")
    flow_scale: float = live(3.0, 0.1, 50.0, "Curl-noise spatial frequency.")
    flow_speed: float = live(0.2, 0.0, 10.0, "How fast the curl-noise field evolves.")


class FeedbackSection(Section):
    amount: float = live(0.55, 0.0, 0.99, "How much of the previous output stays in the new one.")
    zoom: float = live(1.004, 0.8, 1.25, "Zoom of the fed-back image per frame (>1 flows outward).")
    rotate: float = live(0.002, -0.5, 0.5, "Rotation of the fed-back image per frame, radians.")


class GradeSection(Section):
    exposure: float = live(0.0, -4.0, 4.0, "Exposure in stops.")
    contrast: float = live(1.05, 0.0, 3.0, "Contrast around mid-grey.")
    saturation: float = live(1.1, 0.0, 3.0, "Saturation; 0 is greyscale.")
    gamma: float = live(1.0, 0.2, 5.0, "Output gamma.")
    hue: float = live(0.0, -1.0, 1.0, "Hue rotation in turns.")
    vignette: float = live(0.25, 0.0, 1.0, "Darkening toward the corners.")


def _look_section(name: str, params_cls, doc: str, **extra) -> type[BaseModel]:
    """A schema section whose live fields are a look stage's parameters (installation/render/pigment.py,
    tone.py: each with its range and one line), so the stage and the schema cannot drift apart."""
    from dataclasses import fields as dataclass_fields

    from pydantic import create_model

    live_fields_ = {f.name: (float, live(float(f.default), *map(float, f.metadata["range"]), f.metadata["doc"]))
                    for f in dataclass_fields(params_cls)}
    return create_model(name, __base__=Section, __doc__=doc, **extra, **live_fields_)


PigmentSection = _look_section(
    "PigmentSection", PigmentParams, "The pigment flow (issue 13): content injected as dye into a live velocity field.",
    enabled=(bool, Field(False, description="Run the pigment flow and its tone instead of the warp/feedback/grade passes.")),
    onset_impulse=(float, live(0.0, 0.0, 2.0, "Audio onsets push the pigment outward from a random point at this speed "
                                              "(output heights per second; 0 = off).")),
)
ToneSection = _look_section("ToneSection", ToneParams, "Filmic tone and colour of the pigment flow's output.")


class DreamSection(Section):
    enabled: bool = Field(False, description="Run live DeepDream on the generated frames.")
    net: str = Field("discriminator", description="'discriminator' (of the loaded checkpoint), 'resnet18'..'resnet152', or a dreamer file.")
    weights: str | None = Field(None, description="Local weights for a ResNet dreamer, relative to the show file.")
    layer: str | None = Field(None, description="Layer to maximise, by name (`installation dream --list-layers NET`); None: the net's default, a stride-8 layer (a ResNet's layer2, a 64 px discriminator's b16) whose detail is a few pixels across.")
    resolution: int = Field(128, ge=16, le=1024, description="The dream runs on a copy this many pixels high.")
    strength: float = live(0.5, 0.0, 1.0, "Mix of the dream detail over the original.")
    step: float = live(0.02, 0.0, 0.5, "Normalised gradient-ascent step size.")
    steps_per_frame: int = Field(1, ge=1, le=20, description="Gradient steps per content frame.")
    octave_scale: float = live(1.4, 1.0, 3.0, "Scale between octaves.")
    octaves: int = Field(3, ge=1, le=8, description="Number of octaves cycled across frames.")
    decay: float = live(0.92, 0.0, 1.0, "How much carried dream detail survives each frame.")
    focus_x: float = live(0.5, 0.0, 1.0, "Dream brush centre, x.")
    focus_y: float = live(0.5, 0.0, 1.0, "Dream brush centre, y.")
    focus_radius: float = live(2.0, 0.0, 2.0, "Dream brush radius (2 covers everything).")
    focus_softness: float = live(0.2, 0.0, 1.0, "Dream brush edge softness.")


class OscSection(Section):
    enabled: bool = Field(True, description="Listen for OSC messages.")
    host: str = Field("127.0.0.1", description="Address to bind. Anything but loopback needs `allow`.")
    port: int = Field(9000, ge=1, le=65535, description="UDP port.")
    allow: list[str] = Field([], max_length=MAX_ENTRIES, description="Source addresses or networks (CIDR) allowed when bound beyond loopback.")
    status_to: str | None = Field(None, description="'host:port' that receives /installation/status every second.")
    # OSCQuery (control/oscquery.py): the parameter tree over HTTP, found over mDNS.
    query_port: int | None = Field(None, ge=0, le=65535, description="OSCQuery HTTP port on the OSC host (None: the OSC port + 1; 0: any free port).")
    advertise: bool = Field(True, description="Advertise the OSCQuery server over mDNS (_oscjson._tcp) so TouchOSC, Chataigne, Vezer and ossia score find it.")

    @field_validator("host")
    @classmethod
    def _host_not_empty(cls, v: str) -> str:
        if not v:
            raise ValueError("host must not be empty")
        return v

    @field_validator("allow")
    @classmethod
    def _allow_are_networks(cls, v: list[str]) -> list[str]:
        parse_networks(v)  # the one rule the OSC server filters with
        return v

    @field_validator("status_to")
    @classmethod
    def _status_to_host_port(cls, v: str | None) -> str | None:
        if v is not None:
            parse_host_port(v)
        return v


class AudioSection(Section):
    enabled: bool = Field(False, description="Analyse live audio input.")
    device: str | int | None = Field(None, description="Input device by name or index (None: the default input).")
    samplerate: int = Field(44100, ge=8000, le=192000, description="Input sample rate.")
    blocksize: int = Field(1024, ge=64, le=16384, description="Frames per analysis block.")
    bands: int = Field(8, ge=1, le=64, description="Number of log-spaced band energies.")
    gain: float = live(1.0, 0.0, 10.0, "Input gain applied before analysis.")
    band_motion: float = live(0.0, 0.0, 8.0, "How far band energies move the walk along the model's PCA directions in W.")
    onset_push: float = live(0.0, 0.0, 2.0, "Extra travel along the path on each onset, in keyframes.")
    onset_kick: float = live(0.0, 0.0, 8.0, "How far each onset kicks w along the next PCA direction (fades quickly).")


class LinkSection(Section):
    enabled: bool = Field(False, description="Join the Ableton Link session (also `play --link`): its tempo and beat drive the audio.tempo / audio.beat features.")
    tempo: float = Field(120.0, ge=20.0, le=999.0, description="The tempo (bpm) this show proposes when it is alone; a session it joins keeps its own.")
    quantum: float = Field(4.0, gt=0.0, le=64.0, description="Beats per bar, for phase alignment with the other peers.")


class OutputSection(Section):
    ndi: str = Field("", max_length=200, description="Send every displayed frame as this NDI source (also `play --ndi NAME`; empty: no NDI).")
    virtual_camera: bool = Field(False, description="Send every displayed frame to a virtual camera (also `play --virtual-camera`; v4l2loopback on Linux, OBS elsewhere).")
    virtual_camera_device: str | None = Field(None, description="The v4l2loopback device, e.g. '/dev/video10' (None: the first one found).")


class Mapping(Section):
    source: str = Field(..., description="A feature ('audio.rms', 'audio.band3', 'audio.onset', 'audio.beat') or an OSC input ('osc.fader1').")
    target: str = Field(..., description="A live parameter, 'section.name' (e.g. 'latent.speed').")
    range: tuple[float, float] = Field((0.0, 1.0), description="Target values for source 0 and source 1.")
    source_range: tuple[float, float] = Field(
        (0.0, 1.0), description="Source values that map to range[0] and range[1] (e.g. (60, 180) for audio.tempo in bpm)."
    )
    curve: Literal["linear", "exp", "log", "smoothstep"] = Field("linear", description="Shape from source to target.")
    smoothing: float = Field(0.1, ge=0.0, le=10.0, description="Time constant in seconds.")
    mode: Literal["set", "add"] = Field("set", description="set: replaces the value; add: offsets the base value.")


class RecordSection(Section):
    path: str | None = Field(
        None, description="Live shows: record every displayed frame to this mp4 (relative to the show file); also where R and OSC record/start write."
    )
    crf: int = Field(18, ge=0, le=51, description="H.264 quality (lower is better, 18 is visually lossless).")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = Field(
        "veryfast", description="x264 speed/size trade-off; veryfast keeps up with live shows on small machines."
    )
    queue: int = Field(64, ge=1, le=10000, description="Frames that may wait for the encoder before new ones are dropped (live only).")


class GallerySection(Section):
    enabled: bool = Field(False, description="Gallery mode (also `play --gallery`): Esc must be pressed twice, errors never show.")
    watchdog_seconds: float = Field(
        30.0, ge=1.0, le=3600.0, description="Live shows: a content worker with no frame for this long is replaced by a new one."
    )


def _live_values_model(section_cls: type[BaseModel]) -> type[BaseModel]:
    """A section's live parameters, all optional: what a scene may set (same ranges)."""
    from pydantic import create_model

    fields = {}
    for name, f in section_cls.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if extra.get("live"):
            fields[name] = (float | None, Field(None, ge=extra["lo"], le=extra["hi"], description=f.description))
    return create_model(f"{section_cls.__name__}Values", __base__=Section, **fields)


LatentValues = _live_values_model(LatentSection)
WarpValues = _live_values_model(WarpSection)
FeedbackValues = _live_values_model(FeedbackSection)
GradeValues = _live_values_model(GradeSection)
PigmentValues = _live_values_model(PigmentSection)
ToneValues = _live_values_model(ToneSection)
DreamValues = _live_values_model(DreamSection)
AudioValues = _live_values_model(AudioSection)


class Scene(Section):
    """A look: the show's base values with these on top. Moving to a scene crossfades to it."""

    latent: LatentValues = Field(default_factory=LatentValues, description="Latent parameters.")
    warp: WarpValues = Field(default_factory=WarpValues, description="Warp parameters.")
    feedback: FeedbackValues = Field(default_factory=FeedbackValues, description="Feedback parameters.")
    grade: GradeValues = Field(default_factory=GradeValues, description="Grade parameters.")
    pigment: PigmentValues = Field(default_factory=PigmentValues, description="Pigment-flow parameters.")
    tone: ToneValues = Field(default_factory=ToneValues, description="Tone parameters.")
    dream: DreamValues = Field(default_factory=DreamValues, description="Dream parameters.")
    audio: AudioValues = Field(default_factory=AudioValues, description="Audio modulation parameters.")
    seeds: list[Seed] | None = Field(None, max_length=MAX_KEYFRAMES, description="Keyframe seeds for this scene, instead of the show's latent.seeds and w_files (none: the show's).")
    mappings: list[Mapping] | None = Field(None, max_length=MAX_ENTRIES, description="Mappings for this scene (none: the show's mappings).")

    def values(self) -> dict[str, float]:
        """{'section.name': value} of every parameter this scene sets."""
        out = {}
        for section in dict.fromkeys(s for s, _, _ in live_fields()):  # every section with live fields
            for name, v in getattr(self, section).model_dump().items():
                if v is not None:
                    out[f"{section}.{name}"] = float(v)
        return out


class Cue(Section):
    scene: str = Field(..., description="Name of a scene under [scenes.<name>].")
    fade: float = Field(3.0, ge=0, le=600, description="Seconds the crossfade to the scene takes (0: cut).")
    hold: float | None = Field(
        None, gt=0, le=86400,
        description="Seconds to stay after the fade, then go to the next cue by itself (from the last: the first); none: wait.",
    )


class ShowConfig(Section):
    show: ShowSection = Field(default_factory=ShowSection, description="Output size, rate and seed.")
    model: ModelSection = Field(default_factory=ModelSection, description="The generator.")
    latent: LatentSection = Field(default_factory=LatentSection, description="The latent trajectory.")
    crossfade: CrossfadeSection = Field(default_factory=CrossfadeSection, description="Content-frame crossfade.")
    warp: WarpSection = Field(default_factory=WarpSection, description="Swirl and flow warps.")
    feedback: FeedbackSection = Field(default_factory=FeedbackSection, description="Video feedback.")
    grade: GradeSection = Field(default_factory=GradeSection, description="Colour grade.")
    pigment: PigmentSection = Field(default_factory=PigmentSection, description="Pigment flow (replaces warp, feedback and grade when enabled).")
    tone: ToneSection = Field(default_factory=ToneSection, description="Tone of the pigment flow.")
    dream: DreamSection = Field(default_factory=DreamSection, description="Live DeepDream.")
    osc: OscSection = Field(default_factory=OscSection, description="OSC control.")
    audio: AudioSection = Field(default_factory=AudioSection, description="Audio analysis.")
    mappings: list[Mapping] = Field([], max_length=MAX_ENTRIES, description="Feature -> parameter mappings.")
    link: LinkSection = Field(default_factory=LinkSection, description="Ableton Link (control/link.py).")
    output: OutputSection = Field(default_factory=OutputSection, description="Video out to other software: NDI, a virtual camera (output/).")
    record: RecordSection = Field(default_factory=RecordSection, description="Recording.")
    gallery: GallerySection = Field(default_factory=GallerySection, description="Unattended operation.")
    scenes: dict[str, Scene] = Field({}, max_length=MAX_ENTRIES, description="Named looks: [scenes.<name>] with parameter values, seeds, mappings.")
    cues: list[Cue] = Field([], max_length=MAX_ENTRIES, description="The cue list: [[cues]] scene, fade, hold; OSC and keys step through it.")
    midi: list["MidiMapping"] = Field([], max_length=MAX_ENTRIES, description="[[midi]] CC / note / pitch-bend -> a live parameter or an action (control/midi.py); `play --midi PORT` opens the input.")

    # Where the show file lives; relative paths in the file resolve against it. Not a key.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True, description="Folder of the show file.")

    def resolve(self, path: str) -> Path:
        """A path from the show file, made absolute against the show's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


MAX_REPORTED_ERRORS = 20


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid show file"]
    errors = err.errors()
    for e in errors[:MAX_REPORTED_ERRORS]:
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  unknown key '{key}'")
        else:
            got = e.get("input")
            got = reprlib.repr(got) if isinstance(got, (list, dict)) else repr(got)  # a long list: its first items
            lines.append(f"  key '{key}': {e['msg']} (got {got})")
    if len(errors) > MAX_REPORTED_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_REPORTED_ERRORS} more")
    return "\n".join(lines)


def load_show(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, reload: bool = False,
              text: str | None = None) -> ShowConfig:
    """Read, override and validate a show file. Raises ShowConfigError naming file and key.
    reload=True (a running show reads its file again): an empty file is an error, not the
    defaults; editors empty a file for a moment while they save it. `text`: the file's text as
    read before (a hot reload, a performance log); the file itself is then not read."""
    path = Path(path)
    if text is None and not path.is_file():
        raise ShowConfigError(f"{path}: show file not found")
    data = parse_show_text(path, text)
    if reload and not data:
        raise ShowConfigError(f"{path}: the show file is empty (being saved?); the running show stays as it is")
    for text in overrides:
        key, value = parse_override(text)
        apply_override(data, key, value)
    if "base_dir" in data:
        raise ShowConfigError(f"{path}: unknown key 'base_dir'")
    return validate_show(data, source=str(path), base_dir=path.resolve().parent)


def live_fields():
    """(section, name, field) of every live parameter, in schema order: the one walk over the schema
    that the live table (installation/live.py) and the checks below are built from."""
    for section_name, section_field in ShowConfig.model_fields.items():
        for name, f in (getattr(section_field.annotation, "model_fields", None) or {}).items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if extra.get("live"):
                yield section_name, name, f


def validate_show(data: dict, source: str = "<show>", base_dir: Path | None = None) -> ShowConfig:
    try:
        cfg = ShowConfig.model_validate(data)
    except ValidationError as e:
        raise ShowConfigError(_format_errors(source, e)) from None
    if base_dir is not None:
        cfg.base_dir = base_dir
    _check_cross_field(cfg, source)
    return cfg


def _check_cross_field(cfg: ShowConfig, source: str) -> None:
    names = {f"{section}.{name}" for section, name, _ in live_fields()}
    for i, m in enumerate(cfg.mappings):
        if m.target not in names:
            raise ShowConfigError(
                f"{source}: key 'mappings.{i}.target': '{m.target}' is not a live parameter "
                f"(one of: {', '.join(sorted(names))})"
            )
    for name, scene in cfg.scenes.items():
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", name):
            raise ShowConfigError(f"{source}: key 'scenes.{name}': a scene name is 1-64 letters, digits, '_' or '-'")
        if scene.seeds is not None and not scene.seeds:
            raise ShowConfigError(f"{source}: key 'scenes.{name}.seeds': need at least one seed (or leave it out)")
        for i, m in enumerate(scene.mappings or []):
            if m.target not in names:
                raise ShowConfigError(
                    f"{source}: key 'scenes.{name}.mappings.{i}.target': '{m.target}' is not a live parameter"
                )
    for i, cue in enumerate(cfg.cues):
        if cue.scene not in cfg.scenes:
            known = ", ".join(cfg.scenes) or "none defined"
            raise ShowConfigError(f"{source}: key 'cues.{i}.scene': '{cue.scene}' is not a scene (scenes: {known})")
    if cfg.cues and cfg.show.start_cue is not None and cfg.show.start_cue >= len(cfg.cues):
        raise ShowConfigError(
            f"{source}: key 'show.start_cue': {cfg.show.start_cue} but the show has {len(cfg.cues)} cues (0..{len(cfg.cues) - 1})"
        )
    if cfg.osc.enabled and not is_loopback_host(cfg.osc.host) and not cfg.osc.allow:
        raise ShowConfigError(
            f"{source}: key 'osc.allow': binding OSC to {cfg.osc.host} opens it to the network; "
            "list the allowed source addresses or networks"
        )
    if not cfg.latent.seeds and not cfg.latent.w_files:
        raise ShowConfigError(f"{source}: key 'latent.seeds': need at least one keyframe (seeds or w_files)")


def describe_schema() -> str:
    """Every show-file key with its type, default and comment, as TOML-ish text."""
    lines = []
    for section_name, section_field in ShowConfig.model_fields.items():
        if section_field.exclude:
            continue
        cls = section_field.annotation
        fields = getattr(cls, "model_fields", None)
        if fields is None:  # a list of tables, e.g. [[mappings]]
            inner = getattr(cls, "__args__", (None,))[0]
            fields = getattr(inner, "model_fields", None)
            if fields is None:
                continue
            lines.append(f"[[{section_name}]]  # {section_field.description}")
        else:
            lines.append(f"[{section_name}]  # {section_field.description}")
        for name, f in fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            rng = f"  live, {extra['lo']:g}..{extra['hi']:g}" if extra.get("live") else ""
            default = "(required)" if f.is_required() else repr(f.get_default(call_default_factory=True))
            lines.append(f"{name} = {default}  # {f.description}{rng}")
        lines.append("")
    return "\n".join(lines)


class MidiMapping(Section):
    """One MIDI control -> a live parameter (range, curve) or an action. Checked against the live
    table and the action table before the first frame (control/midi.py)."""

    type: Literal["cc", "note", "pitchbend"] = Field("cc", description="cc: a controller; note: a key (velocity is the value); pitchbend: the bend wheel.")
    number: int | None = Field(None, ge=0, le=127, description="CC or note number 0-127 (not for pitchbend).")
    channel: int | None = Field(None, ge=1, le=16, description="MIDI channel 1-16 (None: any).")
    target: str | None = Field(None, description="A live parameter, 'section.name' (e.g. 'warp.swirl').")
    action: str | None = Field(None, description="An action by name instead (e.g. 'cue_next', 'record_toggle', 'toggle_dream'); runs on note on / CC rising past 64.")
    range: tuple[float, float] | None = Field(None, description="Target values for the control at its minimum and maximum (None: the parameter's whole range).")
    curve: Literal["linear", "exp", "log", "smoothstep"] = Field("linear", description="Shape from control to target.")


ShowConfig.model_rebuild()
