"""The learned x4 upscaler: its network, its file format, and the fast inference wrapper the show calls.

    {"format": "installation.upscaler", "version": 1, "kwargs": net.init_kwargs,
     "state": state_dict (fp32, CPU), "metrics": {"psnr_net": dB, "psnr_bicubic": dB, ...}, "extra": {...}}

Images are NCHW in [-1, 1]. The net predicts only a residual on top of a bicubic upsample, so a net
whose last layer is zero is bicubic exactly (it is initialised that way and starts from there).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from installation.models.checkpoint import CheckpointError, atomic_torch_save, load_error_reason

FORMAT = "installation.upscaler"
VERSION = 1


class UpscalerNet(nn.Module):
    """A few 3x3 convs at the input resolution -> 3 * scale^2 channels -> pixel shuffle, plus bicubic.

    [N, 3, H, W] -> [N, 3, scale * H, scale * W]. All the work happens at low resolution, which is what
    makes 128 -> 512 cheap: the only full-resolution operations are the shuffle and one add.
    """

    def __init__(self, channels: int = 16, layers: int = 2, scale: int = 4, tail_kernel: int = 1):
        super().__init__()
        self.init_kwargs = dict(channels=int(channels), layers=int(layers), scale=int(scale),
                                tail_kernel=int(tail_kernel))
        self.scale = int(scale)
        self.head = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.PReLU(channels))
        self.body = nn.Sequential(*[m for _ in range(layers)
                                    for m in (nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels))])
        # A 1x1 tail: on one CPU core mkldnn ran a 3x3 conv to 48 channels ~10x slower than to 16.
        self.tail = nn.Conv2d(channels, 3 * scale * scale, tail_kernel, padding=tail_kernel // 2)
        nn.init.zeros_(self.tail.weight)  # start as exact bicubic; training only learns the correction
        nn.init.zeros_(self.tail.bias)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, 3 * scale^2, H, W], before the pixel shuffle."""
        # Shifted so that the convs' zero padding is black sky (-1), not mid-grey: measured +0.07 dB held out.
        return self.tail(self.body(self.head(x + 1.0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + F.pixel_shuffle(self.residual(x), self.scale)  # [N, 3, sH, sW]


def bicubic_as_conv(scale: int = 4) -> tuple[torch.Tensor, int]:
    """torch's bicubic x`scale` upsample (align_corners=False) as a depthwise conv before a pixel shuffle.

    Returns (weight [3 * scale^2, 1, K, K], pad): conv2d(replicate-pad(x, pad), weight, groups=3) then
    pixel_shuffle(scale) equals F.interpolate(x, scale_factor=scale, mode="bicubic") (torch clamps
    indices at the border, i.e. replicate padding). The weights are read off F.interpolate's response
    to an impulse, so they match torch's own kernel (A = -0.75) by construction.
    """
    pad = 2  # output pixel 4k+j reads input rows k-2..k+1 (j < 2) or k-1..k+2 (j >= 2)
    k = 2 * pad + 1
    size = 4 * k
    impulse = torch.zeros(1, 1, size, size, dtype=torch.float64)
    c = size // 2
    impulse[0, 0, c, c] = 1.0
    up = F.interpolate(impulse, scale_factor=scale, mode="bicubic", align_corners=False)[0, 0]
    w = torch.empty(scale * scale, 1, k, k, dtype=torch.float64)
    for jy in range(scale):
        for jx in range(scale):
            for dy in range(-pad, pad + 1):
                for dx in range(-pad, pad + 1):
                    # conv out[k, l] = sum w[dy, dx] * x[k + dy, l + dx]; the impulse sits at k + dy = c
                    w[jy * scale + jx, 0, dy + pad, dx + pad] = up[scale * (c - dy) + jy, scale * (c - dx) + jx]
    return w.repeat(3, 1, 1, 1).float(), pad  # the same kernel for R, G and B


class Upscaler:
    """What the show calls: `upscaler(img)` with img [N, 3, H, W] in [-1, 1] -> [N, 3, 4H, 4W] in [-1, 1].

    No grad. `fast=True` (the default) runs in channels_last, the bicubic as a depthwise conv added to the
    residual at low resolution, and the pixel shuffle as one reshape/permute copy (torch's pixel_shuffle
    on channels_last input was ~10x slower), as a TorchScript trace made once per input shape (0-20% less
    CPU time than the same ops eager, benchmarks/upscaler.py); `fast=False` is the plain reference path
    (UpscalerNet.forward). Both clamp to [-1, 1] and return contiguous NCHW on the upscaler's device.
    """

    def __init__(self, net: UpscalerNet, device, fast: bool = True, metrics: dict | None = None):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.scale = net.scale
        self.fast = fast
        self.metrics = dict(metrics or {})
        self._traces: dict = {}  # (shape, device) -> traced fast path; a trace is exact for the shape it saw
        weight, self._pad = bicubic_as_conv(self.scale)
        self._bicubic_weight = weight.to(self.device)
        if fast:  # (a channels_last depthwise weight sent torch to its slow im2col conv: keep it contiguous)
            self.net.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"upscaler expects [N, 3, H, W] images, got {list(img.shape)}")
        x = img.to(self.device, torch.float32)
        if not self.fast:
            return self.net(x).clamp_(-1.0, 1.0)
        key = (tuple(x.shape), x.device)
        if key not in self._traces:
            if len(self._traces) >= 4:  # a show uses one frame size; don't grow without bound
                self._traces.clear()
            self._traces[key] = _trace_or_eager(self._fast_forward, x)
        return self._traces[key](x)

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        base = F.conv2d(F.pad(x, (self._pad,) * 4, mode="replicate"), self._bicubic_weight, groups=3)
        y = self.net.residual(x).add_(base)  # [N, 3 * s^2, H, W], channels ordered (colour, row, column)
        n, _, h, w = y.shape
        s = self.scale
        y = y.permute(0, 2, 3, 1).reshape(n, h, w, 3, s, s)  # a view: channels_last memory is (n, h, w, c)
        return y.permute(0, 3, 1, 4, 2, 5).reshape(n, 3, s * h, s * w).clamp_(-1.0, 1.0)  # [N, 3, sH, sW]


def _trace_or_eager(fn, x: torch.Tensor):
    """torch.jit.trace(fn) (deprecated in newer torch, but it measured fastest here and needs no compiler);
    the eager fn itself where this torch cannot trace it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.trace(fn, (x,), check_trace=False)
    except (AttributeError, RuntimeError):
        return fn


# --- file format -------------------------------------------------------------------------------------


def save_upscaler(path, net: UpscalerNet, metrics: dict | None = None, extra: dict | None = None) -> None:
    """Write an upscaler file atomically (fp32 CPU weights; a crash keeps the old file)."""
    atomic_torch_save({
        "format": FORMAT,
        "version": VERSION,
        "kwargs": dict(net.init_kwargs),
        "state": {k: v.detach().to("cpu", torch.float32, copy=True) for k, v in net.state_dict().items()},
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }, path)


def read_upscaler_file(path) -> tuple[UpscalerNet, dict]:
    """(net on the CPU, metrics) from an upscaler file; CheckpointError, one line naming the file, if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such upscaler file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types on foreign or broken files
        raise CheckpointError(f"{path}: not an upscaler file (could not be read safely with weights_only=True: "
                              f"{load_error_reason(e)}); expected a .pt from `installation train-upscaler`") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not an upscaler file (format {found!r}, expected {FORMAT!r}; "
                              "make one with `installation train-upscaler`)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: upscaler file version {data.get('version')!r} is not supported "
                              f"(this build reads version {VERSION})")
    kwargs, state = data.get("kwargs"), data.get("state")
    if not isinstance(kwargs, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: upscaler file is missing its 'kwargs' or 'state'")
    bad = [k for k, v in state.items() if not (isinstance(v, torch.Tensor) and torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: upscaler weights are not finite (NaN or Inf in {', '.join(bad[:3])})")
    try:
        net = UpscalerNet(**kwargs)
        net.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as e:
        reason = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path}: cannot rebuild the upscaler from the file: {reason}") from e
    return net, dict(data.get("metrics") or {})


def load_upscaler(path, device, fast: bool = True) -> Upscaler:
    """The show's entry point: an Upscaler on `device` (a torch.device or name) from an upscaler file."""
    net, metrics = read_upscaler_file(path)
    return Upscaler(net, device, fast=fast, metrics=metrics)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [N, 3, H, W] images in [-1, 1] (peak-to-peak 2, i.e. 1 in [0, 1] units)."""
    mse = (a.clamp(-1, 1) - b.clamp(-1, 1)).square().mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10.0 * torch.log10(4.0 / mse)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["UpscalerNet", "Upscaler", "bicubic_as_conv", "load_upscaler", "read_upscaler_file", "save_upscaler",
           "psnr", "count_params", "FORMAT", "VERSION"]
