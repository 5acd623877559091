"""Multiply-accumulates per generated image, counted from the architecture (for choosing a config)."""

from __future__ import annotations


def generator_macs(G) -> int:
    """MACs of one forward pass of G for one image: mapping FCs, every 3x3 modulated conv and toRGB
    (modulation, demodulation and the 2x upsampling filters are small next to these and left out)."""
    total = 0
    for name, module in G.mapping.named_children():
        if hasattr(module, "weight"):
            total += module.weight.numel()
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        for layer_name in ("conv0", "conv1", "torgb"):
            layer = getattr(block, layer_name, None)
            if layer is None:
                continue
            # conv0 upsamples with a stride-2 transposed conv: its MACs are at the input resolution.
            pixels = (res // 2) ** 2 if getattr(layer, "up", 1) == 2 else res * res
            total += layer.weight.numel() * pixels  # weight [out, in, k, k]
            total += layer.affine.weight.numel()       # style affine
    return total


def discriminator_macs(D) -> int:
    """MACs of one forward pass of D for one image (convs at their input resolution, FC head)."""
    import torch

    total = 0
    hooks = []

    def count(module, inputs, output):
        nonlocal total
        w = getattr(module, "weight", None)
        if w is None or not isinstance(output, torch.Tensor):
            return
        if w.ndim == 4:
            total += w.numel() * output.shape[-1] * output.shape[-2]
        elif w.ndim == 2:
            total += w.numel()

    for m in D.modules():
        if m is not D and hasattr(m, "weight") and isinstance(getattr(m, "weight"), torch.nn.Parameter):
            hooks.append(m.register_forward_hook(count))
    with torch.no_grad():
        D(torch.zeros(2, D.img_channels, D.img_resolution, D.img_resolution))
    for h in hooks:
        h.remove()
    return total // 2
