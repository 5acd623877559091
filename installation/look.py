"""The look's figures: luma, colourfulness, self-similarity, motion and flicker of stills and videos, and a contact sheet.

Definitions (issue 13; every figure in 0..255 levels unless said otherwise):

- mean luma: Rec. 709 weights on the decoded (gamma-encoded) RGB, averaged over the frame.
- colourfulness: Hasler & Suesstrunk (2003): rg = R - G, yb = (R + G) / 2 - B,
  C = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2).
- self-similarity (0..1): the luma, box-averaged to at most ANALYSIS_WIDTH px wide, is
  high-passed (minus a Gaussian blur) and correlated with (a) its left-right mirror image,
  (b) its up-down mirror image, at every relative shift, and (c) itself shifted by
  MIN_SHIFT px (of the original frame) or more. Each correlation is normalised over the
  overlapping region only (Pearson-like, so a partial overlap of a tiled image still scores
  near 1), and only shifts whose overlap is at least MIN_OVERLAP of the frame count.
  The figure is the strongest of the three. Mirror tiling scores near 1, a photograph of sky
  a few hundredths.
- motion: mean absolute change of the RGB values between consecutive frames.
- flicker: mean absolute change of a frame's mean luma between consecutive frames.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from installation.record import iter_video

LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709, as shaders/common/color.glsl
ANALYSIS_WIDTH = 320  # self-similarity works on the luma box-averaged to about this width
MIN_SHIFT = 24  # px of the original frame: a self-match closer than this is just smoothness
MIN_OVERLAP = 0.5  # fraction of the frame two shifted copies must share for a lag to count
HIGHPASS_SIGMA = 2.0  # px at the analysis size: what counts as structure (dots, edges, seams)


def mean_luma(image: np.ndarray) -> float:
    """Mean Rec. 709 luma of an RGB uint8 image [h, w, 3], in levels 0..255."""
    return float((image[..., :3].reshape(-1, 3).astype(np.float64) @ LUMA_WEIGHTS).mean())


def colourfulness(image: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image [h, w, 3] (0 = grey; ~15 a photograph of deep sky)."""
    rgb = image[..., :3].astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def _analysis_luma(image: np.ndarray) -> tuple[np.ndarray, int]:
    """Luma box-averaged by an integer factor to at most ANALYSIS_WIDTH wide; (luma, factor)."""
    luma = image[..., :3].astype(np.float64) @ LUMA_WEIGHTS
    factor = max(1, math.ceil(luma.shape[1] / ANALYSIS_WIDTH))
    h, w = (luma.shape[0] // factor) * factor, (luma.shape[1] // factor) * factor
    luma = luma[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return luma, factor


def _highpass(luma: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return luma - gaussian_filter(luma, HIGHPASS_SIGMA, mode="reflect")


def _normalised_xcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson-like correlation of a with b at every lag (zero-padded FFT), over the overlap only.

    Returns r [2h-1, 2w-1] with r[dy + h - 1, dx + w - 1] = sum a(p) b(p - d) / sqrt(sum a^2 sum b^2),
    both sums over the overlap; lags whose overlap is under MIN_OVERLAP of the frame are 0."""
    h, w = a.shape
    shape = (2 * h, 2 * w)  # enough padding that nothing wraps around
    fft, ifft = np.fft.rfft2, np.fft.irfft2
    ones = np.ones_like(a)

    def xcorr(x, y):
        # sum_p x(p) y(p - d) for every d, via conj-free convolution with y flipped
        full = ifft(fft(x, shape) * fft(y[::-1, ::-1], shape), shape)
        return full[: 2 * h - 1, : 2 * w - 1]

    numerator = xcorr(a, b)
    energy_a = xcorr(a * a, ones)
    energy_b = xcorr(ones, b * b)
    overlap = xcorr(ones, ones)
    valid = overlap >= MIN_OVERLAP * h * w - 0.5
    denominator = np.sqrt(np.maximum(energy_a, 0.0) * np.maximum(energy_b, 0.0))
    r = np.where(valid & (denominator > 1e-9), numerator / np.maximum(denominator, 1e-9), 0.0)
    return r


def self_similarity_parts(image: np.ndarray) -> dict[str, float]:
    """The three correlations behind `self_similarity`: mirror_lr, mirror_ud, shift."""
    luma, factor = _analysis_luma(image)
    hp = _highpass(luma)
    hp = hp - hp.mean()
    h, w = hp.shape
    mirror_lr = float(_normalised_xcorr(hp, hp[:, ::-1]).max())
    mirror_ud = float(_normalised_xcorr(hp, hp[::-1, :]).max())
    auto = _normalised_xcorr(hp, hp)
    min_shift = MIN_SHIFT / factor
    dy = np.arange(-(h - 1), h)[:, None]
    dx = np.arange(-(w - 1), w)[None, :]
    far = np.hypot(dy, dx) >= min_shift
    shift = float(auto[far].max()) if far.any() else 0.0
    return {"mirror_lr": mirror_lr, "mirror_ud": mirror_ud, "shift": shift}


def self_similarity(image: np.ndarray) -> float:
    """Strongest normalised correlation of the high-passed luma with its mirror images or a far shift of itself (0..1)."""
    return max(0.0, max(self_similarity_parts(image).values()))


def still_figures(image: np.ndarray) -> dict[str, float]:
    """Every per-image figure of one RGB uint8 image [h, w, 3] (row 0 = top)."""
    return {
        "luma": mean_luma(image),
        "colourfulness": colourfulness(image),
        "self_similarity": self_similarity(image),
        "bright_fraction": float(((image[..., :3].astype(np.float64) @ LUMA_WEIGHTS) > 40).mean()),
    }


@dataclass
class LookReport:
    """Per-frame figures (after the skip) and their summary."""

    path: str
    fps: float
    size: tuple[int, int]  # (width, height)
    skip_seconds: float
    frames: int = 0
    luma: list[float] = field(default_factory=list)
    colourfulness: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)  # frame i vs i-1 (first frame after the skip: none)
    self_similarity: dict[int, float] = field(default_factory=dict)  # frame index (after skip) -> figure
    bright_fraction: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        luma = np.array(self.luma)
        flicker = float(np.abs(np.diff(luma)).mean()) if len(luma) > 1 else 0.0
        sims = list(self.self_similarity.values())
        return {
            "frames": self.frames,
            "seconds": self.frames / self.fps if self.fps else 0.0,
            "luma": float(luma.mean()) if len(luma) else 0.0,
            "colourfulness": float(np.mean(self.colourfulness)) if self.colourfulness else 0.0,
            "self_similarity": float(np.mean(sims)) if sims else 0.0,
            "self_similarity_max": float(np.max(sims)) if sims else 0.0,
            "motion": float(np.mean(self.motion)) if self.motion else 0.0,
            "flicker": flicker,
            "bright_fraction": float(np.mean(self.bright_fraction)) if self.bright_fraction else 0.0,
        }

    def to_json(self) -> dict:
        out = {
            "path": self.path,
            "fps": self.fps,
            "size": list(self.size),
            "skip_seconds": self.skip_seconds,
            "summary": self.summary(),
            "per_frame": {
                "luma": self.luma,
                "colourfulness": self.colourfulness,
                "motion": self.motion,
                "self_similarity": {str(k): v for k, v in self.self_similarity.items()},
            },
        }
        return out


def measure_video(path, skip_seconds: float = 2.0, similarity_samples: int = 12,
                  sheet_frames: int = 0) -> tuple[LookReport, list[tuple[float, np.ndarray]]]:
    """Figures of a video after `skip_seconds`; also up to `sheet_frames` (time, frame) pairs evenly spaced.

    Self-similarity is costly, so it is measured on `similarity_samples` frames evenly spaced."""
    meta, frames = iter_video(path)
    fps = float(meta.get("fps") or 30.0)
    total = int(round(float(meta.get("duration") or 0.0) * fps))
    skip = int(round(skip_seconds * fps))
    report = LookReport(path=str(path), fps=fps, size=tuple(meta["size"]), skip_seconds=skip_seconds)
    kept = max(1, total - skip)
    sim_at = set(np.linspace(0, kept - 1, similarity_samples).round().astype(int).tolist()) if similarity_samples else set()
    sheet_at = set(np.linspace(0, kept - 1, sheet_frames).round().astype(int).tolist()) if sheet_frames else set()
    sheet: list[tuple[float, np.ndarray]] = []
    previous = None
    i = 0
    for index, frame in enumerate(frames):
        if index < skip:
            continue
        i = index - skip
        report.luma.append(mean_luma(frame))
        report.colourfulness.append(colourfulness(frame))
        report.bright_fraction.append(float(((frame.astype(np.float32) @ LUMA_WEIGHTS.astype(np.float32)) > 40).mean()))
        current = frame.astype(np.int16)
        if previous is not None:
            report.motion.append(float(np.abs(current - previous).mean()))
        previous = current
        if i in sim_at:
            report.self_similarity[i] = self_similarity(frame)
        if i in sheet_at:
            sheet.append((index / fps, frame.copy()))
        report.frames += 1
    if report.frames == 0:
        raise ValueError(f"{path}: no frames after skipping {skip_seconds:g} s")
    if not report.self_similarity and previous is not None:
        report.self_similarity[i] = self_similarity(previous.astype(np.uint8))
    return report, sheet


def contact_sheet(frames: list[tuple[float, np.ndarray]], cols: int = 4, thumb_width: int = 320,
                  title: str | None = None) -> np.ndarray:
    """Frames in a grid, each captioned with its time in seconds (and the sheet with `title`): uint8 [H, W, 3]."""
    from PIL import Image, ImageDraw

    if not frames:
        raise ValueError("contact sheet: no frames")
    h0, w0 = frames[0][1].shape[:2]
    tw, th = thumb_width, max(1, round(thumb_width * h0 / w0))
    rows = math.ceil(len(frames) / cols)
    header = 18 if title else 0
    sheet = Image.new("RGB", (cols * tw, header + rows * th), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 3), title, fill=(220, 220, 220))
    for k, (t, frame) in enumerate(frames):
        r, c = divmod(k, cols)
        thumb = Image.fromarray(np.ascontiguousarray(frame[..., :3])).resize((tw, th), Image.BILINEAR)
        x, y = c * tw, header + r * th
        sheet.paste(thumb, (x, y))
        draw.rectangle((x, y, x + 52, y + 13), fill=(0, 0, 0))
        draw.text((x + 3, y + 1), f"{t:6.2f} s", fill=(255, 255, 255))
    return np.asarray(sheet)


def format_summary(summary: dict[str, float]) -> str:
    return (f"luma {summary['luma']:.1f}  colourfulness {summary['colourfulness']:.1f}  "
            f"self-similarity {summary['self_similarity']:.3f} (max {summary['self_similarity_max']:.3f})  "
            f"motion {summary['motion']:.2f}  flicker {summary['flicker']:.3f}  "
            f"bright {100 * summary['bright_fraction']:.1f}%  ({summary['frames']} frames)")


def look(path, skip_seconds: float = 2.0, sheet_path=None, as_json: bool = False) -> str:
    """The `installation look` command's work: the text (or JSON) it prints; writes the sheet if asked."""
    report, sheet = measure_video(path, skip_seconds=skip_seconds, sheet_frames=12 if sheet_path else 0)
    summary = report.summary()
    if sheet_path:
        from PIL import Image

        image = contact_sheet(sheet, title=f"{Path(path).name}: {format_summary(summary)}")
        Path(sheet_path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(sheet_path)
    if as_json:
        return json.dumps(report.to_json())
    return f"{path}: {format_summary(summary)}"


__all__ = [
    "mean_luma", "colourfulness", "self_similarity", "self_similarity_parts", "still_figures",
    "measure_video", "contact_sheet", "look", "LookReport",
]
