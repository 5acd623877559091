"""What `installation bench` measures and for how long (BenchPlan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The shipped deep-sky dreamer (checkpoints/README.md), timed by this name.
SKY_DREAMER = ("deepsky-resnet", Path(__file__).resolve().parents[1] / "checkpoints" / "deepsky-resnet.dreamer.pt")
DREAMERS = ("discriminator", "resnet18", "resnet50", SKY_DREAMER[0])


@dataclass
class BenchPlan:
    """What to measure and for how long; `quick()` and `full()` are the CLI's two plans,
    tests pass tiny ones."""

    # (name, resolution, channel_base, channel_max) of the reference generator configs
    generators: list[tuple[str, int, int, int]] = field(
        default_factory=lambda: [("128", 128, 4096, 256), ("256", 256, 8192, 256)]
    )
    generator_seconds: float = 2.0  # timed seconds per generator and path (at least 3 frames)
    conv_shape: tuple[int, int, int] = (128, 64, 64)  # channels, height, width of the peak conv
    dream_sizes: tuple[int, ...] = (64, 128, 224, 256)  # 64-128: what a live show dreams at
    dreamers: tuple[str, ...] = DREAMERS
    dream_steps: int = 3  # timed steps per dreamer and size (after one warm-up)
    display_sizes: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"720p": (1280, 720), "1080p": (1920, 1080)}
    )
    display_frames: int = 40
    show_size: tuple[int, int] = (1280, 720)
    show_seconds: float = 10.0
    osc_trials: int = 12
    osc_warmup: float = 1.5  # seconds before the first OSC message (first content frames)
    offline_size: tuple[int, int] = (1920, 1080)
    offline_frames: int = 45
    dream_resolution: int = 128  # the live show's dream working size

    @classmethod
    def quick(cls) -> "BenchPlan":
        return cls(generator_seconds=0.6, dream_steps=1, display_frames=10, show_seconds=4.0, osc_trials=4,
                   offline_frames=12)

    @classmethod
    def full(cls) -> "BenchPlan":
        return cls()
