"""Partial fine-tuning of the last EfficientNet-Lite0 blocks on cached block-10 maps.

The network up to block 10 stays frozen and is run once per view (see
:mod:`amulet_ai.training.activations`). Blocks ``16 - train_blocks`` .. 15 and the head conv
are trained together with the linear head over the four pooled levels, which starts from
the linear-probe solution, so training starts at the probe's accuracy and moves from there.
BatchNorm stays in eval mode with frozen statistics and affine parameters: 137 photos are
too few to re-estimate them. Frozen blocks between the cut and the trained ones are run once
per fit, not per step.

Example::

    >>> config = FineTuneConfig()
    >>> tuned = fine_tune(backbone, maps, labels, probe, config=config, seed=0)  # doctest: +SKIP
    >>> logits = tuned.logits(maps[:, 0])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from amulet_ai.training.features import TAP_BLOCKS, Backbone, pool_levels
from amulet_ai.training.head import LinearHead

logger = logging.getLogger(__name__)

CUT_BLOCK = TAP_BLOCKS[0]
EVAL_BATCH = 128


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyper-parameters of one fine-tuning run; ``epochs`` are passes over all views.

    The defaults are the best of the runs in the model card (last block + head conv).
    """

    train_blocks: int = 1
    epochs: float = 3.0
    batch_size: int = 64
    lr_blocks: float = 1e-3
    lr_head: float = 2e-3
    weight_decay: float = 1e-2
    l2_head: float = 1e-2
    label_smoothing: float = 0.1
    dropout: float = 0.3
    mixup: float = 0.4  # Beta(a, a) mixing of cached maps and labels; 0 = off


def _tune_backbone(backbone: Backbone, train_blocks: int) -> tuple[Backbone, list[torch.Tensor]]:
    """A deep copy with the last ``train_blocks`` blocks and the head conv trainable
    (conv weights only; BatchNorm frozen)."""
    tuned = copy.deepcopy(backbone).eval()
    net = tuned.net
    params: list[torch.Tensor] = []
    modules: list[nn.Module] = [*net._blocks[len(net._blocks) - train_blocks :], net._conv_head]
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, nn.Conv2d):
                sub.weight.requires_grad_(True)
                params.append(sub.weight)
                if sub.bias is not None:
                    sub.bias.requires_grad_(True)
                    params.append(sub.bias)
    return tuned, params


@dataclass
class TunedModel:
    """The fine-tuned backbone and its linear head (standardised features, like the probe)."""

    backbone: Backbone
    head: LinearHead
    first_trained: int

    @torch.no_grad()
    def pooled(self, cut_maps: np.ndarray) -> np.ndarray:
        """Pooled four-level features ``[N, D]`` of block-10 maps ``[N, 112, 14, 14]``."""
        net = self.backbone
        out = []
        for start in range(0, len(cut_maps), EVAL_BATCH):
            x = torch.from_numpy(cut_maps[start : start + EVAL_BATCH].astype(np.float32))
            y, taps = net.run_blocks(x, CUT_BLOCK + 1, len(net.net._blocks))
            out.append(pool_levels([x, *taps, net.head_map(y)]).numpy())
        return np.concatenate(out)

    def logits(self, cut_maps: np.ndarray) -> np.ndarray:
        return self.head.logits(self.pooled(cut_maps))


def fine_tune(
    backbone: Backbone,
    cut_maps: np.ndarray,
    labels: np.ndarray,
    probe: LinearHead,
    *,
    config: FineTuneConfig,
    seed: int,
) -> TunedModel:
    """Fine-tune on ``cut_maps`` ``[photos, views, 112, 14, 14]`` with photo ``labels``.

    ``probe`` is the linear head fitted on the frozen pooled features of the same photos;
    its standardisation is kept and its weights are the starting point.
    """
    torch.manual_seed(seed)
    n_photos, n_views = cut_maps.shape[:2]
    flat = cut_maps.reshape(n_photos * n_views, *cut_maps.shape[2:])
    flat_labels = torch.from_numpy(np.repeat(np.asarray(labels, np.int64), n_views))
    n_blocks = len(backbone.net._blocks)
    first_trained = n_blocks - config.train_blocks
    tuned, block_params = _tune_backbone(backbone, config.train_blocks)

    # The frozen blocks between the cut and the trained ones: once, with their taps pooled.
    with torch.no_grad():
        starts, frozen_pooled = [], []
        for start in range(0, len(flat), EVAL_BATCH):
            x = torch.from_numpy(flat[start : start + EVAL_BATCH].astype(np.float32))
            y, taps = tuned.run_blocks(x, CUT_BLOCK + 1, first_trained)
            starts.append(y)
            frozen_pooled.append(pool_levels([x, *taps]))
        inputs = torch.cat(starts)
        frozen_feats = torch.cat(frozen_pooled)

    mean = torch.from_numpy(probe.mean)
    std = torch.from_numpy(probe.std)
    weight = nn.Parameter(torch.from_numpy(probe.weight.copy()))
    bias = nn.Parameter(torch.from_numpy(probe.bias.copy()))
    optimizer = torch.optim.AdamW(
        [
            {"params": block_params, "lr": config.lr_blocks, "weight_decay": config.weight_decay},
            {"params": [weight, bias], "lr": config.lr_head, "weight_decay": 0.0},
        ]
    )
    steps_per_epoch = math.ceil(len(flat) / config.batch_size)
    total = max(1, round(config.epochs * steps_per_epoch))
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.int64)
    for step in range(total):
        if len(order) < config.batch_size:
            order = torch.cat([order, torch.randperm(len(flat), generator=generator)])
        idx, order = order[: config.batch_size], order[config.batch_size :]
        scale = 0.5 * (1 + math.cos(math.pi * step / total))
        for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = lr * scale
        x, frozen, targets = inputs[idx], frozen_feats[idx], flat_labels[idx]
        lam = 1.0
        if config.mixup > 0:
            # Mixing pairs gives the training views a loss the probe has not already
            # driven to its floor, so the blocks get a signal.
            lam = float(np.random.default_rng([seed, step]).beta(config.mixup, config.mixup))
            partner = torch.roll(torch.arange(len(idx)), 1)
            x = lam * x + (1 - lam) * x[partner]
            frozen = lam * frozen + (1 - lam) * frozen[partner]
        y, taps = tuned.run_blocks(x, first_trained, n_blocks)
        feats = torch.cat([frozen, pool_levels([*taps, tuned.head_map(y)])], dim=1)
        z = F.dropout((feats - mean) / std, p=config.dropout, training=True)
        logits = z @ weight.T + bias
        smoothing = config.label_smoothing
        loss = lam * F.cross_entropy(logits, targets, label_smoothing=smoothing)
        if lam < 1.0:
            loss = loss + (1 - lam) * F.cross_entropy(
                logits, targets[partner], label_smoothing=smoothing
            )
        loss = loss + 0.5 * config.l2_head * (weight**2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % steps_per_epoch == 0 or step + 1 == total:
            logger.info("fine-tune step %d/%d loss %.4f", step + 1, total, loss.item())
    for param in tuned.parameters():
        param.requires_grad_(False)
    head = LinearHead(
        mean=probe.mean,
        std=probe.std,
        weight=weight.detach().numpy().astype(np.float32),
        bias=bias.detach().numpy().astype(np.float32),
    )
    return TunedModel(tuned.eval(), head, first_trained)
