"""Networks to dream with, behind one interface: image in [-1, 1] -> named activations.

Three kinds:
- `DiscriminatorDreamer(D)`: the discriminator of the loaded checkpoint, layers "b{res}".
  The default: it dreams with what the model learned of its own data, no ImageNet needed.
- `ResNetDreamer`: a torchvision-keyed ResNet 18..152 (installation/models/resnet.py),
  random or loaded from a local .pth the user already has; layers "layer1".."layer4",
  "layer3.1", ..., "fc".
- the same ResNetDreamer around a classifier made by `installation train-dreamer`.

`load_dreamer(spec, device, checkpoint=None, weights=None)` builds any of them from a
string; `list_layers(dreamer)` names the layers, shallow to deep.

All dreamers take images in [-1, 1] (the generator's range) and normalise internally.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from installation.models.resnet import RESNET_LAYOUTS, ResNet, infer_resnet_kwargs

DREAMER_FORMAT = "installation.dreamer"
DREAMER_VERSION = 1  # the layout save_dreamer_file writes and load_dreamer_file reads
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Dreamer(nn.Module):
    """A frozen network plus named layers. forward(img [N,3,H,W] in [-1,1], layers) -> {name: act}."""

    name: str = "dreamer"

    def layer_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def default_layer(self) -> str:
        raise NotImplementedError

    def check_layer(self, layer: str) -> str:
        if layer not in self.layer_names():
            raise KeyError(f"dreamer '{self.name}' has no layer {layer!r}; layers: {', '.join(self.layer_names())}")
        return layer

    def forward(self, img: torch.Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _freeze(self) -> None:
        # Dreaming differentiates w.r.t. the image only; frozen BN statistics, no weight grads.
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # a dreamer never leaves eval mode (BatchNorm statistics)
        return super().train(False)


class ResNetDreamer(Dreamer):
    """A ResNet (ImageNet-normalised input) as a dreamer."""

    def __init__(self, net: ResNet, name: str | None = None, classes: list[str] | None = None):
        super().__init__()
        self.net = net
        self.name = name or f"resnet{net.depth}"
        self.classes = list(classes) if classes else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._freeze()

    def layer_names(self) -> list[str]:
        return self.net.layer_names()

    @property
    def default_layer(self) -> str:
        # Stride 8: detail a few pixels across (filaments, knots); layer3's stride 16 paints blobs
        # as wide as a quarter of a 64 px frame.
        return "layer2"

    def forward(self, img, layers):
        for layer in layers:
            self.check_layer(layer)
        x = ((img + 1) * 0.5 - self.mean) / self.std  # [-1,1] -> ImageNet-normalised
        return self.net.features(x, layers)


class DiscriminatorDreamer(Dreamer):
    """A StyleGAN2 discriminator (input already in [-1,1]) as a dreamer; layers 'b{res}'.

    Every layer is convolutional (blocks b{R}..b8, and 'b4' = the epilogue's minibatch-std +
    conv, before its fc), so the dream runs at any image size and octaves work; the walk
    calls the blocks directly because D.features() insists on the training resolution.
    """

    def __init__(self, D: nn.Module, name: str = "discriminator"):
        super().__init__()
        self.D = D
        self.name = name
        self.resolution = int(D.img_resolution)
        self._blocks = list(D.block_resolutions)  # R, R/2, ..., 8; then the epilogue b4
        self._freeze()

    def layer_names(self) -> list[str]:
        return [f"b{res}" for res in self._blocks] + ["b4"]

    @property
    def default_layer(self) -> str:
        # A middle block: deep enough for structure, shallow enough to keep spatial detail.
        names = self.layer_names()
        return names[len(names) // 2]  # 64 px model: b16 (the show's default)

    def forward(self, img, layers):
        for layer in layers:
            self.check_layer(layer)
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        x = None
        for res in self._blocks:
            x = getattr(self.D, f"b{res}")(x, img)  # [N, C, H/2, W/2]
            if f"b{res}" in wanted:
                out[f"b{res}"] = x.float()  # fp16 blocks on CUDA
                if len(out) == len(wanted):
                    return out  # nothing deeper is needed
        out["b4"] = self.D.b4.conv_features(x)  # [N, C4, H', W']
        return out


# --- loading -------------------------------------------------------------------------------

RESNET_SPECS = [f"resnet{d}" for d in RESNET_LAYOUTS]


def _torch_load(path: Path):
    from installation.models.limits import refuse_sizing_globals_in_file

    refuse_sizing_globals_in_file(path, str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - name the file, keep the cause
        from installation.models.checkpoint import load_error_reason

        raise ValueError(f"{path}: cannot read as a torch file ({type(e).__name__}: {load_error_reason(e)})") from e


def _load_resnet_state(net: ResNet, state: dict, source: str) -> None:
    for key, value in state.items():
        # A diverged training run saves NaN; dreaming with it would paint NaN (black) frames.
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{source}: weights hold NaN or Inf (first in {key}); retrain or use another file")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{source}: weights do not fit ResNet-{net.depth} (width {net.width}): "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )


def _state_dict_of(obj, source: str) -> dict:
    # torchvision .pth files are a bare state_dict; some tools wrap it in {"state_dict": ...}.
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{source}: expected a state_dict (name -> tensor)")
    return obj


def resnet_dreamer(depth: int, weights: str | Path | None = None, seed: int = 0) -> ResNetDreamer:
    """ResNet-{depth} dreamer: torchvision weights from a local file, else a fixed random init."""
    if weights is None:
        warnings.warn(
            f"resnet{depth}: no --weights given; dreaming with random (untrained) weights", stacklevel=2
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = ResNet(depth)
        return ResNetDreamer(net)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ResNet weights file not found")
    state = _state_dict_of(_torch_load(path), str(path))
    kwargs = infer_resnet_kwargs(state)
    if kwargs["depth"] != depth:
        raise ValueError(f"{path}: holds ResNet-{kwargs['depth']} weights, not ResNet-{depth}")
    net = ResNet(**kwargs)
    _load_resnet_state(net, state, str(path))
    return ResNetDreamer(net, name=f"resnet{depth}")


def save_dreamer_file(path: str | Path, net: ResNet, classes: list[str], res: int, val_acc: float, extra=None) -> None:
    """Write a trained classifier as a dreamer file, atomically (a crash keeps the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": DREAMER_FORMAT,
        "version": DREAMER_VERSION,
        "depth": net.depth,
        "width": net.width,
        "num_classes": net.num_classes,
        "classes": list(classes),
        "res": int(res),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "val_acc": float(val_acc),
        **(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_dreamer_file(path: str | Path) -> ResNetDreamer:
    """A dreamer file from train-dreamer, or a bare torchvision ResNet state_dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dreamer file not found")
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == DREAMER_FORMAT:
        if obj.get("version") != DREAMER_VERSION:
            raise ValueError(f"{path}: dreamer file version {obj.get('version')!r}; this installation reads version "
                             f"{DREAMER_VERSION} (retrain it with `installation train-dreamer`)")
        try:
            net = ResNet(int(obj["depth"]), int(obj["num_classes"]), int(obj.get("width", 64)))
            state = obj["state_dict"]
        except KeyError as e:
            raise ValueError(f"{path}: dreamer file lacks key {e}") from None
        _load_resnet_state(net, state, str(path))
        return ResNetDreamer(net, name=path.stem, classes=obj.get("classes"))
    try:
        state = _state_dict_of(obj, str(path))
        kwargs = infer_resnet_kwargs(state)
    except ValueError:
        raise ValueError(
            f"{path}: neither a dreamer file (format '{DREAMER_FORMAT}', from `installation train-dreamer`) "
            "nor a torchvision ResNet state_dict"
        ) from None
    net = ResNet(**kwargs)
    _load_resnet_state(net, state, str(path))
    return ResNetDreamer(net, name=path.stem)


def load_dreamer(
    spec: str,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    weights: str | Path | None = None,
) -> Dreamer:
    """'discriminator' (needs `checkpoint`) | 'resnet18'..'resnet152' (optional local `weights`) | a dreamer file."""
    device = torch.device(device)
    if spec == "discriminator":
        if checkpoint is None:
            raise ValueError("dreamer 'discriminator' needs a checkpoint (the model whose discriminator dreams)")
        from installation.models.checkpoint import load_discriminator

        D = load_discriminator(checkpoint, device)
        if D is None:
            raise ValueError(f"{checkpoint}: this checkpoint holds no discriminator; use --net resnet18 or a dreamer file")
        dreamer: Dreamer = DiscriminatorDreamer(D)
    elif spec in RESNET_SPECS:
        dreamer = resnet_dreamer(int(spec[len("resnet"):]), weights)
    elif Path(spec).expanduser().is_file():
        dreamer = load_dreamer_file(Path(spec).expanduser())
    else:
        raise ValueError(
            f"dreamer {spec!r}: expected 'discriminator', one of {', '.join(RESNET_SPECS)}, "
            "or the path of an existing dreamer file"
        )
    return dreamer.to(device)


def list_layers(dreamer: Dreamer) -> list[str]:
    """The dreamer's layer names, shallow to deep."""
    return dreamer.layer_names()
