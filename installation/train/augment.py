"""ADA: differentiable augmentations applied to every image D sees, each with probability p.

Follows Karras et al. 2020 ("Training GANs with limited data"): geometric transforms are composed
into one affine matrix per image and applied with a single grid_sample (reflection padding), colour
transforms into one 4x4 matrix acting on RGB; each transform is applied to each image independently
with probability p. Everything is differentiable w.r.t. the image, so G learns through it.

With only flips, rot90 and integer translations the sampling points land on pixel centres and
grid_sample reproduces pixels exactly (bilinear weights 0/1), so those transforms do not blur.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Strength of each transform (NVlabs defaults); the probability of each is p * its multiplier.
DEFAULT_STRENGTHS = {
    "xflip": 1.0, "rotate90": 1.0, "xint": 1.0, "scale": 1.0,
    "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 1.0, "cutout": 1.0,
}
XINT_MAX = 0.125          # integer translation, fraction of the image size
SCALE_STD = 0.2           # isotropic scale: 2 ** N(0, SCALE_STD)
BRIGHTNESS_STD = 0.2      # additive, in [-1, 1] image units
CONTRAST_STD = 0.5        # multiplicative: 2 ** N(0, CONTRAST_STD)
SATURATION_STD = 1.0      # multiplicative on chroma: 2 ** N(0, SATURATION_STD)
HUE_MAX = 1.0             # rotation about the grey axis: U(-pi, pi) * HUE_MAX
CUTOUT_SIZE = 0.5         # side of the zeroed square, fraction of the image


def _rand(shape, generator, device) -> torch.Tensor:
    # Draw on the CPU from our own generator (reproducible on any device), then move.
    return torch.rand(shape, generator=generator).to(device)


def _randn(shape, generator, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator).to(device)


def _gate(batch: int, prob: float, device, generator) -> torch.Tensor:
    """[batch] float mask: 1 where this transform fires for that image."""
    return (_rand(batch, generator, device) < prob).float()


def _eye(batch: int, n: int, device) -> torch.Tensor:
    return torch.eye(n, device=device).unsqueeze(0).repeat(batch, 1, 1)


class AugmentPipe(torch.nn.Module):
    """Call with images [N, C, H, W] in [-1, 1]; returns augmented images, same shape.

    `p` is a float attribute (set by AdaptiveP); `strengths` selects/weights the transforms.
    """

    def __init__(self, p: float = 0.0, strengths: dict | None = None):
        super().__init__()
        self.p = float(p)
        self.strengths = dict(DEFAULT_STRENGTHS if strengths is None else strengths)
        unknown = set(self.strengths) - set(DEFAULT_STRENGTHS)
        if unknown:
            raise ValueError(f"augment strengths: unknown transform(s) {sorted(unknown)}; known: {sorted(DEFAULT_STRENGTHS)}")

    def _prob(self, name: str) -> float:
        return self.p * self.strengths.get(name, 0.0)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.p <= 0:
            return images
        n, c, h, w = images.shape
        x = images
        x = self._geometric(x, generator)
        if c == 3:
            x = self._color(x, generator)
        x = self._cutout(x, generator)
        return x

    # ----- geometric: one affine matrix [N, 3, 3] in normalised coordinates (x, y in [-1, 1])
    def _geometric(self, x: torch.Tensor, g) -> torch.Tensor:
        n, c, h, w = x.shape
        dev = x.device
        m = _eye(n, 3, dev)
        used = False
        if self._prob("xflip") > 0:
            flip = _gate(n, self._prob("xflip"), dev, g) * (_rand((n), g, dev) < 0.5).float()
            s = 1 - 2 * flip
            m = m @ _diag(s, torch.ones_like(s))
            used = True
        if self._prob("rotate90") > 0:
            k = torch.randint(4, (n,), generator=g).to(dev).float() * _gate(n, self._prob("rotate90"), dev, g)
            m = m @ _rotation(k * (math.pi / 2))
            used = True
        if self._prob("xint") > 0:
            gate = _gate(n, self._prob("xint"), dev, g)
            t = (_rand((n, 2), g, dev) * 2 - 1) * XINT_MAX
            # Round to whole pixels: in normalised units one pixel is 2 / size.
            tx = torch.round(t[:, 0] * w) * 2 / w * gate
            ty = torch.round(t[:, 1] * h) * 2 / h * gate
            m = m @ _translation(tx, ty)
            used = True
        if self._prob("scale") > 0:
            gate = _gate(n, self._prob("scale"), dev, g)
            s = torch.exp2(_randn((n), g, dev) * SCALE_STD * gate)
            m = m @ _diag(s, s)
            used = True
        if not used:
            return x
        # grid_sample maps output coords to input coords: use the matrix as output->input (its inverse
        # is just the opposite transform, and the distribution of each is symmetric).
        theta = m[:, :2, :]  # [N, 2, 3]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    # ----- colour: one 4x4 matrix acting on (r, g, b, 1)
    def _color(self, x: torch.Tensor, g) -> torch.Tensor:
        n = x.shape[0]
        dev = x.device
        m = _eye(n, 4, dev)
        used = False
        luma = torch.tensor([1.0, 1.0, 1.0, 0.0], device=dev) / math.sqrt(3)  # grey axis
        if self._prob("brightness") > 0:
            b = _randn((n), g, dev) * BRIGHTNESS_STD * _gate(n, self._prob("brightness"), dev, g)
            t = _eye(n, 4, dev)
            t[:, :3, 3] = b[:, None]
            m = t @ m
            used = True
        if self._prob("contrast") > 0:
            s = torch.exp2(_randn((n), g, dev) * CONTRAST_STD * _gate(n, self._prob("contrast"), dev, g))
            t = _eye(n, 4, dev)
            t[:, :3, :3] *= s[:, None, None]
            m = t @ m
            used = True
        if self._prob("hue") > 0:
            theta = (_rand((n), g, dev) * 2 - 1) * math.pi * HUE_MAX
            theta = theta * _gate(n, self._prob("hue"), dev, g)
            m = _rotate_about_axis(luma[:3], theta) @ m
            used = True
        if self._prob("saturation") > 0:
            s = torch.exp2(_randn((n), g, dev) * SATURATION_STD * _gate(n, self._prob("saturation"), dev, g))
            ll = torch.outer(luma, luma)  # projector onto grey
            t = ll.unsqueeze(0) + (torch.eye(4, device=dev) - ll).unsqueeze(0) * s[:, None, None]
            t[:, 3, 3] = 1.0
            m = t @ m
            used = True
        if not used:
            return x
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)
        return (m[:, :3, :3] @ flat + m[:, :3, 3:]).reshape(n, c, h, w)

    # ----- cutout: zero a random square (multiplying by a mask keeps the gradient elsewhere)
    def _cutout(self, x: torch.Tensor, g) -> torch.Tensor:
        if self._prob("cutout") <= 0:
            return x
        n, c, h, w = x.shape
        dev = x.device
        gate = _gate(n, self._prob("cutout"), dev, g)
        centre = _rand((n, 2), g, dev)
        yy = (torch.arange(h, device=dev).float() + 0.5) / h
        xx = (torch.arange(w, device=dev).float() + 0.5) / w
        inside_x = ((xx[None, :] - centre[:, 0:1]).abs() < CUTOUT_SIZE / 2).float()  # [N, W]
        inside_y = ((yy[None, :] - centre[:, 1:2]).abs() < CUTOUT_SIZE / 2).float()  # [N, H]
        hole = inside_y[:, :, None] * inside_x[:, None, :] * gate[:, None, None]      # [N, H, W]
        return x * (1 - hole).unsqueeze(1)


def _diag(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0] = sx
    m[:, 1, 1] = sy
    return m


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    m = _eye(angle.shape[0], 3, angle.device)
    c, s = torch.cos(angle), torch.sin(angle)
    # Snap tiny values so rot90 is exact (cos(pi/2) is 6e-17, not 0).
    c = torch.where(c.abs() < 1e-6, torch.zeros_like(c), c)
    s = torch.where(s.abs() < 1e-6, torch.zeros_like(s), s)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translation(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2] = tx
    m[:, 1, 2] = ty
    return m


def _rotate_about_axis(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation [N, 4, 4] about a unit 3-vector."""
    n = theta.shape[0]
    ax, ay, az = axis.tolist()
    k = torch.tensor([[0, -az, ay], [az, 0, -ax], [-ay, ax, 0]], device=theta.device)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    r = torch.eye(3, device=theta.device) + s * k + (1 - c) * (k @ k)
    m = _eye(n, 4, theta.device)
    m[:, :3, :3] = r
    return m


class AdaptiveP:
    """The ADA heuristic: r_t = E[sign(D(real))] over an interval; p moves towards keeping r_t at target.

    Each update moves p by sign(r_t - target) * (images seen in the interval) / (speed_kimg * 1000),
    so p can cross 0 -> 1 in `speed_kimg` thousand images (500 in the paper; shorter runs want less).
    """

    def __init__(self, target: float = 0.6, speed_kimg: float = 500.0, p: float = 0.0):
        self.target = float(target)
        self.speed_kimg = float(speed_kimg)
        self.p = float(p)
        self.sign_sum = 0.0
        self.count = 0
        self.last_rt: float | None = None

    def accumulate(self, real_logits: torch.Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach()).sum())
        self.count += int(real_logits.numel())

    def update(self, num_images: int, sign_sum: float | None = None, count: int | None = None) -> float:
        """Adjust p from the accumulated signs (or given, all-reduced totals); returns the new p."""
        s = self.sign_sum if sign_sum is None else sign_sum
        c = self.count if count is None else count
        self.sign_sum, self.count = 0.0, 0
        if c == 0:
            return self.p
        self.last_rt = s / c
        direction = (self.last_rt > self.target) - (self.last_rt < self.target)  # sign, 0 when equal
        step = direction * num_images / (self.speed_kimg * 1000)
        self.p = min(max(self.p + step, 0.0), 1.0)
        return self.p

    def state_dict(self) -> dict:
        return {"target": self.target, "speed_kimg": self.speed_kimg, "p": self.p,
                "sign_sum": self.sign_sum, "count": self.count, "last_rt": self.last_rt}

    def load_state_dict(self, state: dict) -> None:
        self.target = float(state["target"])
        self.speed_kimg = float(state["speed_kimg"])
        self.p = float(state["p"])
        self.sign_sum = float(state["sign_sum"])
        self.count = int(state["count"])
        self.last_rt = state.get("last_rt")
