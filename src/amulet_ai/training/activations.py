"""Cached activations of the frozen early network, the input of partial fine-tuning.

One pass of the frozen backbone over every training view yields both the pooled
multi-level features (unknown detector, linear probe) and the block-10 map (112 x 14 x 14),
where the fine-tuned part of the network starts. The map is stored as float16: 137 photos
x 16 views take about 96 MB, and every fine-tuning epoch then runs only the last blocks.

Example::

    >>> feats, maps = extract_cut_views(backbone, dataset, n_views=16, seed=0,
    ...                                 fingerprint=fp, cache_dir=None)  # doctest: +SKIP
    >>> maps.shape[2:]  # doctest: +SKIP
    (112, 14, 14)
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Final

import numpy as np
import torch

from amulet_ai.imaging.decode import load_path, to_tensor
from amulet_ai.training.augment import views
from amulet_ai.training.data import Dataset
from amulet_ai.training.features import (
    BATCH_SIZE,
    FEATURE_DIM,
    LEVEL_CHANNELS,
    LEVEL_SIZES,
    TAP_BLOCKS,
    Backbone,
    pool_levels,
)

logger = logging.getLogger(__name__)

CUT_BLOCK: Final = TAP_BLOCKS[0]  # block 10: the first tapped level is the cut
CUT_SHAPE: Final = (LEVEL_CHANNELS[0], LEVEL_SIZES[0], LEVEL_SIZES[0])
CACHE_VERSION: Final = "cut-v1"


def _cache_key(fingerprint: str, n_views: int, seed: int) -> str:
    text = f"{CACHE_VERSION}:{fingerprint}:{n_views}:{seed}:{TAP_BLOCKS}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@torch.no_grad()
def embed_with_cut(backbone: Backbone, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and float16 block-10 maps of a float32 ``[N, 3, 224, 224]`` batch."""
    pooled, cut = [], []
    for start in range(0, len(batch), BATCH_SIZE):
        maps = backbone(torch.from_numpy(batch[start : start + BATCH_SIZE]))
        pooled.append(pool_levels(maps).numpy())
        cut.append(maps[0].numpy().astype(np.float16))
    return np.concatenate(pooled).astype(np.float32), np.concatenate(cut)


def extract_cut_views(
    backbone: Backbone,
    dataset: Dataset,
    *,
    n_views: int,
    seed: int,
    fingerprint: str,
    cache_dir: Path | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``[photos, views, FEATURE_DIM]`` (float32) and block-10 maps
    ``[photos, views, 112, 14, 14]`` (float16) of every photo in ``n_views`` views.

    View 0 is the photo as served and view 1 its mirror image (see
    :mod:`amulet_ai.training.augment`). The random views are seeded per photo, so the
    result does not depend on the order photos are read in.
    """
    files = None
    if cache_dir is not None:
        key = _cache_key(fingerprint, n_views, seed)
        files = (cache_dir / f"pooled-{key}.npy", cache_dir / f"cut-{key}.npy")
        if all(f.is_file() for f in files):
            logger.info("activation cache hit %s", files[1])
            return np.load(files[0]), np.load(files[1])
    n = len(dataset.photos)
    feats = np.zeros((n, n_views, FEATURE_DIM), dtype=np.float32)
    cut = np.zeros((n, n_views, *CUT_SHAPE), dtype=np.float16)
    for i, photo in enumerate(dataset.photos):
        rng = np.random.default_rng([seed, i])
        image = load_path(photo.path).image
        batch = np.stack([to_tensor(v) for v in views(image, n_views, rng)])
        feats[i], cut[i] = embed_with_cut(backbone, batch)
        if (i + 1) % 20 == 0:
            logger.info("activations: %d/%d photos", i + 1, n)
    if files is not None:
        files[0].parent.mkdir(parents=True, exist_ok=True)
        np.save(files[0], feats)
        np.save(files[1], cut)
    return feats, cut
