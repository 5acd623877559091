"""Low-level StyleGAN2 operations in plain PyTorch (no custom CUDA kernels).

Same maths as NVlabs `torch_utils/ops` (upfirdn2d, conv2d_resample, bias_act) and
`modulated_conv2d`, so NVlabs weights reproduce NVlabs pixels; written with ordinary
`conv2d` / `conv_transpose2d` so it runs on any device torch supports.

Padding convention: `padding` is (x0, x1, y0, y1) like NVlabs; negative values crop.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
# Default gains keep the activation variance ~1 (NVlabs bias_act def_gain).
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


# --- filters ---------------------------------------------------------------------------


def setup_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """A 1-D list of taps -> the normalised 2-D FIR filter (outer product, sums to 1). [k, k]"""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.ndim == 1 else f
    return f / f.sum()


def _parse_padding(padding) -> list[int]:
    if isinstance(padding, int):
        return [padding] * 4
    padding = list(padding)
    if len(padding) == 2:  # (px, py)
        return [padding[0], padding[0], padding[1], padding[1]]
    return padding


def upfirdn2d(
    x: torch.Tensor,  # [N, C, H, W]
    f: torch.Tensor,  # [kh, kw]
    up: int = 1,
    down: int = 1,
    padding=0,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample (insert zeros), pad, FIR filter, downsample: the NVlabs reference semantics."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = _parse_padding(padding)
    conv_padding = 0
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        conv_padding = (py0, px0)  # let the conv zero-pad: saves a padded copy of a full-res map
    else:
        x = F.pad(x, [px0, px1, py0, py1])  # negative padding crops
    # gain ** (ndim / 2) per NVlabs; flip -> true convolution (the filter is symmetric anyway).
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype).flip([0, 1])
    weight = f[None, None].expand(c, 1, *f.shape)  # depthwise: [C, 1, kh, kw]
    # Filtering then taking every `down`-th pixel == a strided depthwise conv (4x less work).
    return F.conv2d(x, weight, stride=down, padding=conv_padding, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """2x (or `up`x) upsampling with the FIR filter; gain up**2 keeps the mean."""
    kh, kw = f.shape
    pad = [(kw + up - 1) // 2, (kw - up) // 2, (kh + up - 1) // 2, (kh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """2x (or `down`x) downsampling with the FIR filter."""
    kh, kw = f.shape
    pad = [(kw - down + 1) // 2, (kw - down) // 2, (kh - down + 1) // 2, (kh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=pad)


# --- convolution with resampling ---------------------------------------------------------


def _conv(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    # torch's conv2d is a correlation; flip_weight=False asks for a true convolution.
    if not flip_weight:
        w = w.flip([2, 3])
    op = F.conv_transpose2d if transpose else F.conv2d
    return op(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(
    x: torch.Tensor,  # [N, C_in, H, W]
    w: torch.Tensor,  # [C_out, C_in // groups, kh, kw]
    f: torch.Tensor | None = None,  # [fh, fw] FIR filter, needed when up/down > 1
    up: int = 1,
    down: int = 1,
    padding=0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """2-D convolution with optional FIR up/downsampling, same paths as NVlabs conv2d_resample.

    Upsampling: stride-2 transposed conv, then FIR blur with gain up**2.
    Downsampling: FIR blur, then stride-2 conv.
    """
    out_channels, in_per_group, kh, kw = w.shape
    fh, fw = f.shape if f is not None else (1, 1)
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # 1x1: downsample first, then convolve
        x = upfirdn2d(x, f, down=down, padding=pad)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # 1x1: convolve first, then upsample
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)
    if down > 1 and up == 1:  # blur, then strided conv
        x = upfirdn2d(x, f, padding=pad)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:  # transposed strided conv, then blur
        if groups == 1:
            w = w.transpose(0, 1)  # conv_transpose2d wants [C_in, C_out, kh, kw]
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    # No resampling.
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = F.pad(x, pad)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)


# --- bias + activation --------------------------------------------------------------------


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """x + b (over dim 1), activation, times gain (default: the activation's gain), clamp to +-clamp."""
    if b is not None:
        x = x + b.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r} (expected 'linear' or 'lrelu')")
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# --- modulated convolution ---------------------------------------------------------------


def modulated_conv2d(
    x: torch.Tensor,  # [N, C_in, H, W]
    weight: torch.Tensor,  # [C_out, C_in, kh, kw]
    styles: torch.Tensor,  # [N, C_in]
    noise: torch.Tensor | None = None,  # broadcastable to the output
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution (NVlabs maths), two equivalent execution paths.

    fused_modconv=True: per-sample weights (style * weight * demod) as one grouped conv;
        fastest for batch 1 / inference.
    fused_modconv=False: scale the activations by the style before the conv and by the
        demodulation coefficients after it, sharing one weight; cheaper for large batches
        and the path NVlabs trains with.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape

    # Pre-normalise so fp16 cannot overflow; the demodulation cancels the scale.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])  # [1, N*I, H, W]: one grouped conv for the whole batch
    w = w.reshape(-1, in_channels, kh, kw)  # [N*O, I, kh, kw]
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])  # [N, O, H', W']
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
