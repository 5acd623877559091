"""DeepDream: gradient ascent on the image to make a layer's activations stronger.

Images are float tensors [1, 3, H, W] in [-1, 1] (the generator's range); dreamers
normalise for their own network. Two modes share one step (`dream_step`):

- still: `dream_image(img, net, layer, ...)`: octaves from small to full size, the detail
  (dreamed - base) carried up from octave to octave, a few iterations each.
- live: `LiveDreamer.step(frame, dream, flow)`: a few steps per content frame on a small
  copy; the detail is carried from frame to frame, moved along the image's motion, decayed
  and added again, so the dream grows and flows; octaves cycle across frames.

A step: roll the image by a random offset (jitter: hides the network's grid), take the
gradient of the objective, roll the gradient back, optionally blur it, divide by its mean
absolute value (so `step` is in image units whatever the layer) and clamp to [-1, 1].
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from installation.dreamers import Dreamer
from installation.live import Frame

# --- objectives --------------------------------------------------------------------------


class Objective:
    """Activations of one layer ([N, C, H, W] or [N, C]) -> a scalar to maximise."""

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L2Objective(Objective):
    """Mean of the squared activations: 'whatever this layer sees, more of it'."""

    def __call__(self, act):
        return act.pow(2).mean()


@dataclass
class ChannelObjective(Objective):
    """The mean of one channel (one feature, or one class at 'fc')."""

    channel: int

    def __call__(self, act):
        if not 0 <= self.channel < act.shape[1]:
            raise ValueError(f"objective channel:{self.channel}: this layer has channels 0..{act.shape[1] - 1}")
        return act[:, self.channel].mean()


class GuideObjective(Objective):
    """Dot product with a guide image's activations.

    Each position of the dreamed layer is pulled toward the guide feature it already resembles
    most (the matching of the original DeepDream notebook), so the guide's textures appear
    where they fit; sizes of the two images need not agree.
    """

    def __init__(self, guide_act: torch.Tensor):  # [1, C, h, w] or [1, C]
        g = guide_act.detach()
        self.guide = g.transpose(0, 1).reshape(g.shape[1], -1)  # [C, P_guide]

    def __call__(self, act):
        x = act.transpose(0, 1).reshape(act.shape[1], -1)  # [C, P]: every position of every image
        if x.shape[0] != self.guide.shape[0]:
            raise ValueError(f"guide has {self.guide.shape[0]} channels, the layer {x.shape[0]}")
        with torch.no_grad():
            best = (x.T @ self.guide).argmax(dim=1)  # [P]: best-matching guide feature
        return (x * self.guide[:, best]).sum() / x.shape[1]


# A still dream keeps a few activations and gradients of the whole image: 8000x8000 took 24 GB.
# Above this many pixels the image is refused (shrink it with max_side / `dream --size`).
MAX_DREAM_PIXELS = 2048 * 2048


def check_dream_size(width: int, height: int, what: str) -> None:
    """ValueError naming `what` if a width x height image is too big to dream on."""
    if width * height > MAX_DREAM_PIXELS:
        side = math.isqrt(MAX_DREAM_PIXELS)
        raise ValueError(f"{what}: {width}x{height} is {width * height / 1e6:.1f} megapixels; dreaming works on at "
                         f"most {MAX_DREAM_PIXELS / 1e6:.1f} (e.g. {side}x{side}): shrink it with --size {side}")


def load_image(path: str | Path, max_side: int | None = None, max_pixels: int | None = None) -> torch.Tensor:
    """An image file -> [1, 3, H, W] in [-1, 1]; optionally shrunk so its longer side <= max_side.
    With max_pixels, an image larger than that after shrinking is refused before it is decoded."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image not found")
    try:
        im = Image.open(path)  # reads the header only
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds
        raise ValueError(f"{path}: not a readable image ({e})") from None
    w, h = im.size
    if max_pixels is not None:
        s = min(1.0, max_side / max(w, h)) if max_side else 1.0
        check_dream_size(round(w * s), round(h * s), str(path))
    try:
        im = im.convert("RGB")
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds
        raise ValueError(f"{path}: not a readable image ({e})") from None
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    return uint8_to_tensor(np.asarray(im))


def make_objective(spec: str | Objective, net: Dreamer, layer: str, device=None) -> Objective:
    """'l2' | 'channel:N' | 'guide:IMAGE' (or an Objective, passed through)."""
    if isinstance(spec, Objective):
        return spec
    if spec == "l2":
        return L2Objective()
    kind, _, arg = spec.partition(":")
    if kind == "channel":
        try:
            return ChannelObjective(int(arg))
        except ValueError:
            raise ValueError(f"objective {spec!r}: expected channel:N with N an integer") from None
    if kind == "guide" and arg:
        guide = load_image(arg, max_side=256).to(device or next(net.parameters()).device)
        with torch.no_grad():
            return GuideObjective(net(guide, [layer])[layer])
    raise ValueError(f"objective {spec!r}: expected 'l2', 'channel:N' or 'guide:IMAGE'")


# --- image helpers -----------------------------------------------------------------------


def uint8_to_tensor(frame: np.ndarray, device=None) -> torch.Tensor:
    """HWC uint8 -> [1, 3, H, W] float in [-1, 1]."""
    return _frame_tensor(frame, device).float() / 127.5 - 1.0


def _frame_tensor(frame: np.ndarray, device=None) -> torch.Tensor:
    """HWC uint8 array -> [1, 3, H, W] uint8 tensor on device (read-only arrays are copied)."""
    a = np.ascontiguousarray(frame)
    if not a.flags.writeable:
        a = a.copy()  # torch.from_numpy wants a writable buffer
    return torch.from_numpy(a).to(device).permute(2, 0, 1)[None]


def tensor_to_uint8(img: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> HWC uint8 (rounded, as NVlabs' x * 127.5 + 128 floors)."""
    x = ((img[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


# One 8-bit level in [-1, 1] units: the soft clip's ceiling stays this far inside the range, so a
# dreamed pixel that was not at 0 or 255 never rounds to it.
SOFT_CLIP_MARGIN = 2.0 / 255


def soft_add(base: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """base + detail in [-1, 1] with a smooth shoulder instead of a hard clamp.

    Per pixel, the detail is squeezed into the room left toward the bound it moves to
    (room * tanh(detail / room)): small details pass unchanged, large ones approach the bound
    without reaching it, so highlights keep their gradations instead of clipping to flat
    colour. Pixels already at a bound stay there."""
    up = (1.0 - SOFT_CLIP_MARGIN - base).clamp(min=0.0)  # room toward white
    down = (1.0 - SOFT_CLIP_MARGIN + base).clamp(min=0.0)  # room toward black
    room = torch.where(detail >= 0, up, down)
    squeezed = room * torch.tanh(detail / room.clamp(min=1e-6))
    return (base + squeezed).clamp(-1.0, 1.0)  # the clamp only catches bases outside [-1, 1]


def resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of [N, C, H, W]; antialiased when shrinking; identity at the same size."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    shrink = size[0] < img.shape[-2] or size[1] < img.shape[-1]
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W], edges replicated; sigma in pixels."""
    if sigma <= 0:
        return x
    radius = max(1, min(int(math.ceil(3 * sigma)), min(x.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, [radius, radius, radius, radius], mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def octave_sizes(h: int, w: int, octaves: int, scale: float, min_side: int = 8) -> list[tuple[int, int]]:
    """Sizes from the smallest octave to the full size (h, w)."""
    sizes = []
    for o in range(octaves - 1, -1, -1):
        s = scale**o
        sizes.append((max(min_side, round(h / s)), max(min_side, round(w / s))))
    sizes[-1] = (h, w)
    return sizes


# --- the step ----------------------------------------------------------------------------


def objective_value(net: Dreamer, x: torch.Tensor, layer: str, objective: Objective) -> float:
    with torch.no_grad():
        return float(objective(net(x, [layer])[layer]))


def dream_gradient(
    x: torch.Tensor,  # [1, 3, H, W] in [-1, 1]
    net: Dreamer,
    layer: str,
    objective: Objective,
    jitter: int = 0,
    smooth_sigma: float = 0.0,
    rng: random.Random | None = None,
) -> torch.Tensor:
    """d objective / d image at x, computed on a randomly rolled copy and rolled back. [1, 3, H, W]"""
    rng = rng or random
    jitter = min(jitter, x.shape[-2] - 1, x.shape[-1] - 1)
    oy, ox = (rng.randint(-jitter, jitter), rng.randint(-jitter, jitter)) if jitter > 0 else (0, 0)
    with torch.inference_mode(False), torch.enable_grad():
        xr = torch.roll(x.detach(), shifts=(oy, ox), dims=(2, 3)).clone().requires_grad_(True)
        value = objective(net(xr, [layer])[layer])
        (grad,) = torch.autograd.grad(value, xr)
    grad = torch.roll(grad, shifts=(-oy, -ox), dims=(2, 3))  # undo the jitter
    return gaussian_blur(grad, smooth_sigma)


def dream_step(
    x: torch.Tensor,  # [1, 3, H, W] in [-1, 1]
    net: Dreamer,
    layer: str,
    objective: Objective,
    step: float,
    jitter: int = 0,
    smooth_sigma: float = 0.0,
    mask: torch.Tensor | None = None,  # [1, 1, H, W] in [0, 1]: where the dream may change the image
    rng: random.Random | None = None,
) -> torch.Tensor:
    """One normalised gradient-ascent step: x + step * g / mean|g|, clamped to [-1, 1]."""
    g = dream_gradient(x, net, layer, objective, jitter, smooth_sigma, rng)
    if mask is not None:
        g = g * mask
        # Normalise over the painted region only, so a small brush dreams as fast as a big one.
        area = mask.sum() * g.shape[1] + 1e-8
        mean_abs = g.abs().sum() / area
    else:
        mean_abs = g.abs().mean()
    return (x + step * g / (mean_abs + 1e-8)).clamp(-1.0, 1.0)


def dream_image(
    img: torch.Tensor,  # [1, 3, H, W] in [-1, 1]
    net: Dreamer,
    layer: str | None = None,
    objective: str | Objective = "l2",
    octaves: int = 4,
    octave_scale: float = 1.4,
    iterations: int = 10,
    step: float = 0.02,
    jitter: int = 32,
    smooth_sigma: float = 0.0,
    progress: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """DeepDream a still image. Returns [1, 3, H, W] in [-1, 1], the input's size.

    Octaves run from the smallest (H / octave_scale**(octaves-1)) to the full size; after each,
    the detail (dreamed - base) is upscaled and added to the next octave's base. The result is
    base + detail through `soft_add`'s shoulder: a pixel the dream drove all the way to 0 or 255
    ends about three quarters of the way there, keeping the texture beneath it, instead of
    clipping to flat colour.
    """
    from tqdm.auto import tqdm

    if img.ndim != 4 or img.shape[:2] != (1, 3):
        raise ValueError(f"dream_image: expected an image [1, 3, H, W], got {tuple(img.shape)}")
    if octaves < 1 or octave_scale < 1 or iterations < 0:
        raise ValueError("dream_image: need octaves >= 1, octave_scale >= 1, iterations >= 0")
    check_dream_size(img.shape[-1], img.shape[-2], "dream_image")
    layer = net.check_layer(layer or net.default_layer)
    objective = make_objective(objective, net, layer, img.device)
    rng = random.Random(seed)
    base_full = img.detach().clamp(-1.0, 1.0)
    sizes = octave_sizes(*img.shape[-2:], octaves, octave_scale)
    detail = torch.zeros_like(resize(base_full, sizes[0]))
    bar = tqdm(total=len(sizes) * iterations, desc="dream", unit="step", disable=not progress)
    x = base_full
    for size in sizes:
        base = resize(base_full, size)
        detail = resize(detail, size)
        x = (base + detail).clamp(-1.0, 1.0)
        for _ in range(iterations):
            x = dream_step(x, net, layer, objective, step, jitter, smooth_sigma, rng=rng)
            bar.update(1)
        detail = x - base
    bar.close()
    return soft_add(base_full, (x - base_full).detach())


# --- the dream brush ---------------------------------------------------------------------


def brush_mask(h: int, w: int, x: float, y: float, radius: float, softness: float, device=None) -> torch.Tensor:
    """Where the dream shows: 1 inside, 0 at and beyond `radius`, a smooth edge between. [h, w]

    x: 0 left .. 1 right; y: 0 bottom .. 1 top (like warp.swirl_y); rows of the mask run top
    first, like the frames. radius is in units of the image height (>= 2 covers everything);
    softness is the fraction of the radius over which the mask falls from 1 to 0.
    """
    if radius >= 2.0:
        return torch.ones(h, w, device=device)
    if radius <= 0:
        return torch.zeros(h, w, device=device)
    cy, cx = (1.0 - y) * h, x * w  # centre in pixels, rows from the top
    rows = torch.arange(h, device=device, dtype=torch.float32) + 0.5
    cols = torch.arange(w, device=device, dtype=torch.float32) + 0.5
    d = torch.hypot((rows[:, None] - cy) / h, (cols[None, :] - cx) / h)  # distance in heights
    soft = max(float(softness), 0.0) * radius
    if soft <= 0:
        return (d < radius).float()
    t = ((radius - d) / soft).clamp(0.0, 1.0)
    return t * t * (3 - 2 * t)  # smoothstep: 1 inside radius - soft, 0 at radius


# --- motion: cheap dense optical flow ----------------------------------------------------


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Move img along flow: out(p) = img(p - flow(p)). img [N,C,H,W], flow [N,2,H,W] in pixels (dx, dy)."""
    n, _, h, w = img.shape
    ys = torch.arange(h, device=img.device, dtype=img.dtype)
    xs = torch.arange(w, device=img.device, dtype=img.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    sx = gx[None] - flow[:, 0]
    sy = gy[None] - flow[:, 1]
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    grid = torch.stack([2 * sx / max(w - 1, 1) - 1, 2 * sy / max(h - 1, 1) - 1], dim=-1)  # [N, H, W, 2]
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _image_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences of [N,1,H,W], edges replicated."""
    p = F.pad(img, [1, 1, 1, 1], mode="replicate")
    gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) * 0.5
    gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) * 0.5
    return gx, gy


def estimate_flow(
    prev: torch.Tensor,  # [1, 1, H, W] grey, any range
    cur: torch.Tensor,  # [1, 1, H, W]
    levels: int = 3,
    iterations: int = 2,
    window_sigma: float = 1.5,
    max_flow: float | None = None,
) -> torch.Tensor:
    """Dense Lucas-Kanade on a small pyramid: flow [1, 2, H, W] in pixels with cur(p) ~ prev(p - flow(p)).

    Cheap (a few blurs per level), good enough to move the dream with the picture; flat
    regions get ~0 motion thanks to a small Tikhonov term.
    """
    h, w = cur.shape[-2:]
    pyramid = [(prev, cur)]
    while len(pyramid) < levels and min(pyramid[-1][1].shape[-2:]) >= 16:
        a, b = pyramid[-1]
        pyramid.append((F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)))
    flow = torch.zeros(1, 2, *pyramid[-1][1].shape[-2:], device=cur.device, dtype=cur.dtype)
    for a, b in reversed(pyramid):
        if flow.shape[-2:] != b.shape[-2:]:
            sy, sx = b.shape[-2] / flow.shape[-2], b.shape[-1] / flow.shape[-1]
            flow = F.interpolate(flow, size=b.shape[-2:], mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([sx, sy], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
        for _ in range(iterations):
            moved = warp(a, flow)  # prev brought to where the current estimate says it went
            gx, gy = _image_gradients(0.5 * (moved + b))
            r = moved - b  # residual: want moved - grad . delta == b
            # The five window sums in one blur (a depthwise conv per channel: the same sums as
            # five separate blurs, a fifth of the calls: ~10% off the motion estimate at 64 px).
            products = torch.cat([gx * gx, gy * gy, gx * gy, gx * r, gy * r], dim=1)  # [1, 5, h, w]
            sxx, syy, sxy, sxr, syr = gaussian_blur(products, window_sigma).unbind(dim=1)
            sxx, syy, sxy, sxr, syr = (v[:, None] for v in (sxx, syy, sxy, sxr, syr))
            eps = 1e-4 + 1e-3 * (sxx + syy).mean()
            sxx, syy = sxx + eps, syy + eps
            det = sxx * syy - sxy * sxy
            dx = (syy * sxr - sxy * syr) / det
            dy = (sxx * syr - sxy * sxr) / det
            flow = flow + torch.cat([dx, dy], dim=1).clamp(-2.0, 2.0)
    limit = max_flow if max_flow is not None else 0.25 * max(h, w)
    return flow.clamp(-limit, limit)


# --- live mode ---------------------------------------------------------------------------

class LiveDreamer:
    """DeepDream that grows and flows across the frames of a show.

    Call `step(frame, params, flow)` once per content frame, from one thread (the dream
    worker). The dream runs on a copy `resolution` pixels high; the carried detail
    (dreamed - base, [1, 3, h, w] in image units) is moved along the motion between
    consecutive frames, multiplied by 'dream.decay', grown by `steps_per_frame` normalised
    steps at this frame's octave (octaves cycle across frames), clamped to +-max_detail, and
    shown over the full-size frame with mix 'dream.strength' inside the brush.
    """

    def __init__(
        self,
        dreamer: Dreamer,
        layer: str | None = None,
        resolution: int = 128,
        octaves: int = 3,
        device: torch.device | str | None = None,
        *,
        steps_per_frame: int = 1,
        objective: str | Objective = "l2",
        jitter: int = 4,
        smooth_sigma: float = 0.0,
        max_detail: float = 0.75,
        estimate_motion: bool = True,
        seed: int = 0,
    ):
        if resolution < 8 or octaves < 1 or steps_per_frame < 1:
            raise ValueError("LiveDreamer: need resolution >= 8, octaves >= 1, steps_per_frame >= 1")
        self.device = torch.device(device) if device is not None else next(dreamer.parameters()).device
        self.dreamer = dreamer.to(self.device)
        self.resolution = int(resolution)
        self.octaves = int(octaves)
        self.steps_per_frame = int(steps_per_frame)
        self.jitter = int(jitter)
        self.smooth_sigma = float(smooth_sigma)
        self.max_detail = float(max_detail)
        self.estimate_motion = estimate_motion
        self._objective_spec = objective
        self._rng = random.Random(seed)
        self.set_layer(layer or dreamer.default_layer)
        self.reset()

    def set_layer(self, layer: str) -> None:
        """Change the dreamed layer live (the carried detail stays and fades out by decay)."""
        self.layer = self.dreamer.check_layer(layer)
        self.objective = make_objective(self._objective_spec, self.dreamer, self.layer, self.device)

    def reset(self) -> None:
        """Forget the carried dream (e.g. after a cut)."""
        self.detail: torch.Tensor | None = None  # [1, 3, h, w]
        self._prev_grey: torch.Tensor | None = None  # [1, 1, h, w]
        self.frame_index = 0

    def _work_size(self, h: int, w: int) -> tuple[int, int]:
        wh = min(self.resolution, h)
        return wh, max(8, round(wh * w / h))

    def _flow_from_numpy(self, flow: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """[H, W, 2] pixels of the frame -> [1, 2, h, w] pixels of the working copy."""
        if flow.ndim != 3 or flow.shape[2] != 2:
            raise ValueError(f"LiveDreamer.step: flow must be [H, W, 2] (dx, dy in pixels), got {flow.shape}")
        f = torch.from_numpy(np.array(flow, dtype=np.float32)).to(self.device).permute(2, 0, 1)[None]
        sy, sx = size[0] / flow.shape[0], size[1] / flow.shape[1]
        f = resize(f, size)
        return f * torch.tensor([sx, sy], device=self.device).view(1, 2, 1, 1)

    def step(self, frame: np.ndarray, dream=None, flow: np.ndarray | None = None) -> np.ndarray:
        """One content frame in, the dreamed frame out: uint8 [H, W, 3] -> uint8 [H, W, 3].

        dream: the frame's dream section (config.Frame.dream: strength, step, octave_scale,
        decay, focus_x/y/radius/softness; already clamped); None: the schema's defaults.
        flow: optional [H, W, 2] motion of the content from the previous frame to this one,
        in pixels (dx, dy), such that this frame at p shows the previous frame at p - flow;
        without it the motion is estimated from the two frames.
        """
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"LiveDreamer.step: expected a uint8 frame [H, W, 3], got {got}")
        p = dream if dream is not None else Frame.defaults().dream
        strength, decay, step, scale = p.strength, p.decay, p.step, p.octave_scale
        H, W = frame.shape[:2]
        size = self._work_size(H, W)

        with torch.no_grad():
            full = uint8_to_tensor(frame, self.device)  # [1, 3, H, W] in [-1, 1]
            base = resize(full, size)  # [1, 3, h, w]
            grey = base.mean(dim=1, keepdim=True)
            detail = torch.zeros_like(base)
            if self.detail is not None and self.detail.shape == base.shape and decay > 0:
                if flow is not None:
                    motion = self._flow_from_numpy(flow, size)
                elif self.estimate_motion and self._prev_grey is not None:
                    motion = estimate_flow(self._prev_grey, grey)
                else:
                    motion = None
                carried = warp(self.detail, motion) if motion is not None else self.detail
                detail = carried * decay
            self._prev_grey = grey
            brush = brush_mask(*size, p.focus_x, p.focus_y, p.focus_radius,
                               p.focus_softness, device=self.device)[None, None]  # [1, 1, h, w]

        if strength > 0 and step > 0 and bool(brush.any()):
            detail = detail + self._grow(base, detail, brush, step, scale)

        with torch.no_grad():
            detail = ((base + detail).clamp(-1.0, 1.0) - base).clamp(-self.max_detail, self.max_detail)
            self.detail = detail
            self.frame_index += 1
            if strength <= 0:
                return frame.copy()
            mask = brush_mask(H, W, p.focus_x, p.focus_y, p.focus_radius,
                              p.focus_softness, device=self.device)[None, None]
            up = resize(detail, (H, W))  # [1, 3, H, W]
            out = soft_add(uint8_to_tensor(frame, self.device), strength * mask * up)  # a shoulder, not a clamp
            out = ((out + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            return out[0].permute(1, 2, 0).cpu().numpy()

    def _grow(self, base, detail, brush, step, scale) -> torch.Tensor:
        """Dream steps at this frame's octave; returns the new detail at the working size."""
        h, w = base.shape[-2:]
        o = self.frame_index % self.octaves
        size = (max(8, round(h / scale**o)), max(8, round(w / scale**o)))
        x0 = (resize(base, size) + resize(detail, size)).clamp(-1.0, 1.0)
        mask = resize(brush, size)
        x = x0
        for _ in range(self.steps_per_frame):
            x = dream_step(x, self.dreamer, self.layer, self.objective, step, self.jitter,
                           self.smooth_sigma, mask=mask, rng=self._rng)
        return resize((x - x0).detach(), (h, w))
