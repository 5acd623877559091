"""ResNet 18/34/50/101/152 whose state_dict keys match torchvision's exactly.

Written by us from the architecture (He et al. 2015, torchvision's "v1.5" variant: the
stride of a bottleneck sits on its 3x3 conv), so a `resnet50-*.pth` that the user already
has on disk loads with `load_state_dict(strict=True)`. Nothing is downloaded.

Keys: conv1, bn1, layer{1..4}.{i}.conv1/bn1/conv2/bn2[/conv3/bn3], layer{k}.0.downsample.0
(1x1 conv) / .1 (batch norm), fc. `width` (64 in torchvision) only exists so that tests
and tiny dreamers can be small; any width other than 64 does not load torchvision files.
"""

from __future__ import annotations

import torch
from torch import nn

# depth -> (block kind, blocks per stage); torchvision's table.
RESNET_LAYOUTS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet(nn.Module):
    """torchvision-compatible ResNet. forward(x [N,3,H,W], ImageNet-normalised) -> logits [N, classes]."""

    def __init__(self, depth: int = 18, num_classes: int = 1000, width: int = 64):
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth {depth}: expected one of {sorted(RESNET_LAYOUTS)}")
        if width < 1:
            raise ValueError(f"ResNet width {width}: expected a positive channel count")
        kind, counts = RESNET_LAYOUTS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.depth, self.num_classes, self.width = depth, num_classes, width
        self.init_kwargs = {"depth": depth, "num_classes": num_classes, "width": width}

        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = width
        for stage, count in enumerate(counts):
            planes = width * 2**stage
            stride = 1 if stage == 0 else 2
            blocks = []
            for i in range(count):
                downsample = None
                if i == 0 and (stride != 1 or cin != planes * block.expansion):
                    downsample = nn.Sequential(
                        _conv1x1(cin, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
                    )
                blocks.append(block(cin, planes, stride if i == 0 else 1, downsample))
                cin = planes * block.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's init: He-normal convs (fan_out), BN scale 1 / shift 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stages(self) -> list[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def layer_names(self) -> list[str]:
        """Dreamable layers, shallow to deep: 'layer1', 'layer1.0', 'layer1.1', ..., 'layer4', ..., 'fc'."""
        names = []
        for k, stage in enumerate(self.stages(), start=1):
            names.append(f"layer{k}")
            names += [f"layer{k}.{i}" for i in range(len(stage))]
        return names + ["fc"]

    def features(self, x: torch.Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Activations of the named layers; the walk stops after the deepest one asked for.

        x: [N, 3, H, W] ImageNet-normalised. 'layerK' is the output of stage K (== its last
        block), 'layerK.i' the output of block i, 'fc' the logits [N, classes].
        """
        wanted = set(layers)
        unknown = wanted - set(self.layer_names())
        if unknown:
            raise KeyError(f"ResNet-{self.depth} has no layer(s) {sorted(unknown)}; layers: {self.layer_names()}")
        out: dict[str, torch.Tensor] = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for k, stage in enumerate(self.stages(), start=1):
            for i, block in enumerate(stage):
                x = block(x)
                if f"layer{k}.{i}" in wanted:
                    out[f"layer{k}.{i}"] = x
            if f"layer{k}" in wanted:
                out[f"layer{k}"] = x
            if len(out) == len(wanted):
                return out  # nothing deeper is needed
        out["fc"] = self.fc(torch.flatten(self.avgpool(x), 1))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x, ["fc"])["fc"]  # [N, num_classes]


def resnet(depth: int, num_classes: int = 1000, width: int = 64) -> ResNet:
    return ResNet(depth, num_classes=num_classes, width=width)


def infer_resnet_kwargs(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Depth, classes and width of a torchvision-keyed state_dict, read from its keys and shapes."""
    if "conv1.weight" not in state_dict or "fc.weight" not in state_dict:
        raise ValueError("not a torchvision ResNet state_dict (no conv1.weight / fc.weight)")
    bottleneck = "layer1.0.conv3.weight" in state_dict
    counts = tuple(
        len({k.split(".")[1] for k in state_dict if k.startswith(f"layer{s}.")}) for s in (1, 2, 3, 4)
    )
    for depth, (kind, layout) in RESNET_LAYOUTS.items():
        if layout == counts and (kind == "bottleneck") == bottleneck:
            return {
                "depth": depth,
                "num_classes": int(state_dict["fc.weight"].shape[0]),
                "width": int(state_dict["conv1.weight"].shape[0]),
            }
    raise ValueError(f"ResNet state_dict with blocks per stage {counts} matches no depth in {sorted(RESNET_LAYOUTS)}")
