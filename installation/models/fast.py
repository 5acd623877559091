"""Inference-only fast path for the synthesis network: same pixels as the reference, less work.

`FastSynthesis(G.synthesis)` snapshots the weights once and then, per frame:

- modulates whichever is smaller, per layer: the activations (x * style before a fixed
  conv, demodulation as a per-channel scale after it: no per-frame weight copy) or the
  weights (style * weight * demod, as the reference does). Low resolutions have big
  weights and small maps; high resolutions the reverse. Both are the same maths.
- computes the demodulation coefficients from precomputed squared weights,
  d = rsqrt(sum_i s_i^2 * sum_k w_oik^2), a [O, I] @ [I] product instead of a pass over
  the modulated [O, I, k, k] weight;
- folds the activation gain (sqrt 2, for lrelu) into that scale and into the (const)
  noise and bias, which are precomputed;
- runs the up-convolution's transposed conv with a pre-transposed contiguous weight;
- does bias, noise, lrelu and clamp in place (no per-layer temporaries);
- keeps weights and activations channels_last (oneDNN's native layout: no reorders).

The reference (`SynthesisNetwork.forward`) stays as it is; tests/test_generator_fast.py
checks that both give the same image within 1e-3. The snapshot does not follow later
weight changes: build a new FastSynthesis after loading or training.

Devices: anything torch runs on. On CUDA the reference's fp16 blocks are not reproduced
here (everything is fp32; `dtype=torch.float16` runs the convolutions in half precision);
that path is written for CUDA but has not been run on a GPU in this project.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from installation.models.ops import LRELU_SLOPE, upfirdn2d, upsample2d
from installation.models.stylegan2 import NOISE_MODES, SynthesisLayer, SynthesisNetwork, ToRGBLayer


def _cl(t: torch.Tensor) -> torch.Tensor:
    # channels_last weights and input: oneDNN then skips a layout reorder per conv. Measured
    # with a generator timing (1 thread, 128 px base 4096): ~47 ms vs ~64 ms contiguous.
    return t.contiguous(memory_format=torch.channels_last)


def _affine_params(layer) -> tuple[torch.Tensor, torch.Tensor]:
    """The FullyConnectedLayer `layer.affine` as a plain (weight, bias) with gains folded in."""
    fc = layer.affine
    weight = fc.weight.detach() * fc.weight_gain  # [I, w_dim]
    bias = fc.bias.detach() * fc.bias_gain  # [I]
    return weight.contiguous(), bias.contiguous()


class _FastLayer(nn.Module):
    """One SynthesisLayer (modulated 3x3 conv, optionally 2x up), precomputed."""

    def __init__(self, layer: SynthesisLayer, in_size: int, dtype: torch.dtype):
        super().__init__()
        weight = layer.weight.detach().float()  # [O, I, k, k]
        out_ch, in_ch, kh, kw = weight.shape
        self.up = layer.up
        self.padding = layer.padding
        self.resolution = layer.resolution
        self.dtype = dtype
        self.act_gain = float(layer.act_gain)
        self.clamp = float(layer.conv_clamp * 1.0) if layer.conv_clamp is not None else None
        self.affine_weight, self.affine_bias = _affine_params(layer)
        # sum over the kernel of w^2: demod coefficients without touching the modulated weight.
        self.register_buffer("weight_sq", weight.square().sum(dim=[2, 3]))  # [O, I]
        self.register_buffer("weight", _cl(weight.to(dtype)))  # [O, I, k, k] for the plain conv
        self.register_buffer("resample_filter", layer.resample_filter.detach().clone())
        if self.up > 1:
            # conv_transpose2d wants [I, O, k, k]; the reference's up path flips nothing.
            self.register_buffer("weight_t", _cl(weight.transpose(0, 1).contiguous().to(dtype)))
        g = self.act_gain
        self.register_buffer("bias_g", (layer.bias.detach().float() * g).reshape(1, -1, 1, 1))
        self.use_noise = bool(layer.use_noise)
        if self.use_noise:
            self.noise_strength = float(layer.noise_strength.detach())
            self.register_buffer("noise_const_g", (layer.noise_const.detach().float() * self.noise_strength * g)[None, None])
        # Modulate the activations when the input map is smaller than the weight (see module doc).
        self.modulate_activations = in_ch * in_size * in_size <= out_ch * in_ch * kh * kw

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        """x [N, I, r, r], w [N, w_dim] -> [N, O, R, R]"""
        batch = x.shape[0]
        styles = torch.addmm(self.affine_bias, w, self.affine_weight.t())  # [N, I]
        dcoefs = (torch.mm(styles.square(), self.weight_sq.t()) + 1e-8).rsqrt()  # [N, O]
        scale = dcoefs * self.act_gain  # demodulation and the lrelu gain, per output channel
        x = x.to(self.dtype)
        if self.modulate_activations or batch > 1:
            x = x * styles.to(self.dtype).reshape(batch, -1, 1, 1)
            y = self._conv(x, self.weight, self.weight_t if self.up > 1 else None)
            y = y.mul_(scale.to(y.dtype).reshape(batch, -1, 1, 1))
        else:
            # [O, I, k, k] * style [I] * scale [O]: the reference's fused modulation, gain folded in.
            w_mod = self.weight * (scale.reshape(-1, 1, 1, 1) * styles.reshape(1, -1, 1, 1)).to(self.dtype)
            y = self._conv(x, w_mod, w_mod.transpose(0, 1) if self.up > 1 else None)
        if self.use_noise and noise_mode == "const":
            y = y.add_(self.noise_const_g.to(y.dtype))
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([batch, 1, self.resolution, self.resolution], device=y.device, dtype=y.dtype)
            y = y.add_(noise.mul_(self.noise_strength * self.act_gain))
        y = y.add_(self.bias_g.to(y.dtype))
        y = F.leaky_relu_(y, LRELU_SLOPE)  # lrelu(g z) = g lrelu(z) for g > 0
        if self.clamp is not None:
            y = y.clamp_(-self.clamp, self.clamp)
        return y

    def _conv(self, x, weight, weight_t):
        if self.up == 1:
            return F.conv2d(x, weight, padding=self.padding)
        # Transposed stride-2 conv, then the FIR blur (gain up^2): ops.conv2d_resample's up path.
        kh, kw = weight.shape[2:]
        fh, fw = self.resample_filter.shape
        up, p = self.up, self.padding
        px0 = p + (fw + up - 1) // 2 - (kw - 1)
        px1 = p + (fw - up) // 2 - (kw - up)
        py0 = p + (fh + up - 1) // 2 - (kh - 1)
        py1 = p + (fh - up) // 2 - (kh - up)
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        y = F.conv_transpose2d(x, weight_t, stride=up, padding=[pyt, pxt])
        return upfirdn2d(y, self.resample_filter, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)


class _FastToRGB(nn.Module):
    """ToRGBLayer: modulated 1x1 conv without demodulation; the [3, I] weight is cheap to modulate."""

    def __init__(self, layer: ToRGBLayer, dtype: torch.dtype):
        super().__init__()
        self.affine_weight, self.affine_bias = _affine_params(layer)
        self.dtype = dtype
        self.register_buffer("weight", (layer.weight.detach().float() * layer.weight_gain).to(dtype))  # [3, I, 1, 1]
        self.register_buffer("bias", layer.bias.detach().float().reshape(1, -1, 1, 1))
        self.clamp = float(layer.conv_clamp) if layer.conv_clamp is not None else None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [N, I, R, R], w [N, w_dim] -> [N, 3, R, R] fp32"""
        batch = x.shape[0]
        styles = torch.addmm(self.affine_bias, w, self.affine_weight.t())  # [N, I]
        if batch == 1:
            y = F.conv2d(x, self.weight * styles.to(self.dtype).reshape(1, -1, 1, 1))
        else:
            y = F.conv2d(x * styles.to(self.dtype).reshape(batch, -1, 1, 1), self.weight)
        y = y.float().add_(self.bias)
        if self.clamp is not None:
            y = y.clamp_(-self.clamp, self.clamp)
        return y


class FastSynthesis(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R]: SynthesisNetwork's output, faster.

    Inference only (no gradients needed; call it under torch.inference_mode()). dtype:
    the activations' precision (float32; float16/bfloat16 are meant for CUDA).
    """

    def __init__(self, synthesis: SynthesisNetwork, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.num_ws = synthesis.num_ws
        self.w_dim = synthesis.w_dim
        self.img_resolution = synthesis.img_resolution
        self.block_resolutions = list(synthesis.block_resolutions)
        self.dtype = dtype
        self.blocks = nn.ModuleList()
        self._plan: list[tuple[int, int, int]] = []  # per block: first w index, number of convs, has const
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(synthesis, f"b{res}")
            parts = nn.Module()
            if block.in_channels == 0:
                parts.register_buffer("const", _cl(block.const.detach().float().to(dtype)[None]))  # [1, C, 4, 4]
                parts.convs = nn.ModuleList([_FastLayer(block.conv1, res, dtype)])
            else:
                parts.convs = nn.ModuleList([_FastLayer(block.conv0, res // 2, dtype), _FastLayer(block.conv1, res, dtype)])
            parts.torgb = _FastToRGB(block.torgb, dtype)
            parts.register_buffer("resample_filter", block.resample_filter.detach().clone())
            self.blocks.append(parts)
            self._plan.append((w_idx, block.num_conv, int(block.in_channels == 0)))
            w_idx += block.num_conv
        device = next(synthesis.parameters()).device
        self.to(device)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32)
        batch = ws.shape[0]
        x = img = None
        for parts, (w_idx, num_conv, has_const) in zip(self.blocks, self._plan):
            if has_const:
                x = parts.const.expand(batch, -1, -1, -1)  # [N, C, 4, 4]
            for i, layer in enumerate(parts.convs):
                x = layer(x, ws[:, w_idx + i], noise_mode)
            y = parts.torgb(x, ws[:, w_idx + num_conv])  # [N, 3, R, R]
            img = y if img is None else upsample2d(img, parts.resample_filter).add_(y)
        return img


class _FixedNoise(nn.Module):
    def __init__(self, fast: FastSynthesis, noise_mode: str):
        super().__init__()
        self.fast = fast
        self.noise_mode = noise_mode

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.fast(ws, self.noise_mode)


def trace_synthesis(fast: FastSynthesis, ws: torch.Tensor, noise_mode: str = "const") -> torch.jit.ScriptModule:
    """FastSynthesis as a TorchScript trace for this ws shape and noise mode: ws -> img.

    Same ops, same pixels (tests/test_generator_fast.py); the point is that one call runs
    the whole network in C++ without the GIL. Eager mode takes and releases the GIL ~150
    times a frame, and with the display loop's Python on the other thread that convoy cost
    ~35% of the generator's throughput (measured: 56-58 vs 35-39 frames in 3 s next to a
    busy Python thread, 64 px model, 1 thread). Random noise stays random (randn is traced
    as an op)."""
    import warnings

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The per-layer path choices are Python constants: baking them in is the point.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch 2.9+ marks jit.trace deprecated; it still works and measures fastest here
        # (torch.compile costs minutes per start on 2 cores). Revisit when it is removed.
        warnings.filterwarnings("ignore", message=".*torch.jit.trace.*", category=DeprecationWarning)
        example = ws.detach().clone()
        traced = torch.jit.trace(_FixedNoise(fast, noise_mode).eval(), (example,), check_trace=False)
    return traced
