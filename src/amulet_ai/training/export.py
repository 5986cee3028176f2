"""The deployable graph (backbone, linear head, class activation maps, unknown score) and its
ONNX export with a parity check against torch.

Graph contract: input ``image`` float32 ``[N, 3, S, S]`` scaled ``(x - 127) / 128``, ``S`` the
backbone's input size (224 for Lite0, 260 for Lite2 and Lite0+Lite2); outputs ``logits``
``[N, C]`` (uncalibrated), ``unknown_score`` ``[N]`` and ``cam`` ``[N, C, K, K]`` (``K`` the
last network's head map: 7 for Lite0, 9 with Lite2). ``logits`` equals the spatial mean of
``cam`` plus the bias, so the heatmap is an exact decomposition of the score it explains.
With ``backbone_maps`` (names such as ``block10``, of the frozen Lite0's tapped blocks) the
graph also outputs those blocks' maps ``[N, C, H, W]`` under their names: the localiser's
head reads the same blocks of the same frozen network, so a photo the localiser would see
at the classifier's input needs one backbone run for both
(:mod:`amulet_ai.serving.locating`).

Example::

    >>> module = DeployableModel(load_backbone(), head, detector)  # doctest: +SKIP
    >>> export_onnx(module, Path("models/amulet_classifier.onnx"))  # doctest: +SKIP
    >>> check_parity(module, Path("models/amulet_classifier.onnx"), photos)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from amulet_ai.training.crossval import UnknownScore
from amulet_ai.training.features import Backbone
from amulet_ai.training.head import LinearHead
from amulet_ai.training.unknown import MahalanobisDetector

logger = logging.getLogger(__name__)

OPSET: Final = 17
INPUT_NAME: Final = "image"
OUTPUT_NAMES: Final = ("logits", "unknown_score", "cam")
PARITY_TOLERANCE: Final = 1e-4


class ExportParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the torch model's logits."""


class DeployableModel(nn.Module):
    """Backbone + linear head over ``head_levels`` + the unknown score over
    ``detector_levels`` (see :mod:`amulet_ai.training.unknown`): with ``unknown_score``
    ``"distance"`` the distance to the nearest detector centre, with
    ``"predicted_class_distance"`` to the nearest centre of the class of the top logit
    (the centres' classes are the detector's ``labels``). Both are on one scale,
    ``sqrt(d^2 / D)``. With ``reference_weight`` (nearest-reference detector only), each
    class's logit, and each cell of its ``cam``, is less ``reference_weight`` times the
    distance to that class's nearest reference over ``reference_scale``, as the recipe's
    fused logits (:func:`amulet_ai.training.crossval.components`); the top logit is then
    the fused one."""

    bias: torch.Tensor
    feat_mean: torch.Tensor
    feat_std: torch.Tensor
    class_means: torch.Tensor
    class_means_t: torch.Tensor
    class_sq: torch.Tensor
    directions: torch.Tensor
    dir_scale: torch.Tensor
    centre_labels: torch.Tensor
    class_masks: torch.Tensor

    def __init__(
        self,
        backbone: Backbone,
        head: LinearHead,
        detector: MahalanobisDetector,
        *,
        head_levels: tuple[int, ...],
        feature_mean: np.ndarray,
        feature_std: np.ndarray,
        detector_backbone: Backbone | None = None,
        shared_blocks: int = 0,
        detector_levels: tuple[int, ...] = (0, 1, 2, 3),
        backbone_maps: tuple[str, ...] = (),
        unknown_score: UnknownScore = "distance",
        reference_weight: float = 0.0,
        reference_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.per_class = unknown_score == "predicted_class_distance"
        if self.per_class and detector.labels is None:
            raise ValueError("predicted_class_distance needs the detector's centre labels")
        self.fuse = float(reference_weight) / float(reference_scale)
        if self.fuse and (detector.labels is None or detector.directions.shape[1]):
            raise ValueError("reference_weight needs labelled nearest-reference centres")
        self.backbone_maps = backbone_maps
        self.map_levels = tuple(_map_level(backbone, name) for name in backbone_maps)
        self.detector_levels = detector_levels
        self.backbone = backbone.eval()
        # With a fine-tuned ``backbone``, the unknown score may read the frozen network:
        # blocks below ``shared_blocks`` are the same in both and run once.
        self.detector_backbone = None if detector_backbone is None else detector_backbone.eval()
        self.shared_blocks = shared_blocks
        self.head_levels = head_levels
        self.level_sizes = backbone.spec.level_sizes
        self.cam_size = self.level_sizes[-1]  # the last network's head map
        weight, bias = head.folded()
        self.level_weights = nn.ParameterList()
        offset = 0
        for level in head_levels:
            width = backbone.spec.level_channels[level]
            w = torch.from_numpy(weight[:, offset : offset + width].copy())
            self.level_weights.append(nn.Parameter(w, requires_grad=False))
            offset += width
        self.register_buffer("bias", torch.from_numpy(bias))
        self.register_buffer("feat_mean", torch.from_numpy(feature_mean.astype(np.float32)))
        self.register_buffer("feat_std", torch.from_numpy(feature_std.astype(np.float32)))
        self.register_buffer("class_means", torch.from_numpy(detector.means))
        # The references transposed ``[D, M]`` and their |c|^2 ``[1, M]``: the nearest
        # reference found by a matrix product.
        means = detector.means.astype(np.float64)
        self.register_buffer("class_means_t", torch.from_numpy(detector.means.T.copy()))
        self.register_buffer(
            "class_sq", torch.from_numpy((means**2).sum(1).astype(np.float32))[None]
        )
        scale = 1.0 / np.sqrt(detector.variances)
        self.register_buffer("directions", torch.from_numpy(detector.directions))
        self.register_buffer("dir_scale", torch.from_numpy(scale.astype(np.float32)))
        labels = np.zeros(len(detector.means)) if detector.labels is None else detector.labels
        self.register_buffer("centre_labels", torch.from_numpy(labels.astype(np.int64)))
        masks = labels[None, :] == np.arange(head.weight.shape[0])[:, None]  # [C, M]
        self.register_buffer("class_masks", torch.from_numpy(masks if self.fuse else masks[:0]))
        self.fused_classes = len(masks) if self.fuse else 0
        self.residual_variance = float(detector.residual_variance)
        self.n_features = int(detector.means.shape[1])
        self.rank = int(detector.directions.shape[1])  # 0: nearest reference, no directions

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.detector_backbone is None:
            maps = detector_maps = self.backbone(image)
        else:
            x, shared = self.backbone.run_blocks(self.backbone.stem(image), 0, self.shared_blocks)
            stop = len(self.backbone.net._blocks)
            y, taps = self.backbone.run_blocks(x, self.shared_blocks, stop)
            maps = [*shared, *taps, self.backbone.head_map(y)]
            y, taps = self.detector_backbone.run_blocks(x, self.shared_blocks, stop)
            detector_maps = [*shared, *taps, self.detector_backbone.head_map(y)]
        cam = torch.zeros((), dtype=image.dtype)
        for level, weight in zip(self.head_levels, self.level_weights, strict=True):
            level_cam = torch.einsum("kc,nchw->nkhw", weight, maps[level])
            cam = cam + _to_cam_grid(level_cam, self.level_sizes[level], self.cam_size)
        logits = cam.mean(dim=(2, 3)) + self.bias
        feats = torch.cat([detector_maps[lv].mean(dim=(2, 3)) for lv in self.detector_levels], 1)
        z = (feats - self.feat_mean) / self.feat_std
        if self.fuse:
            class_d2 = self._class_d2(z)
            distance = torch.sqrt(torch.clamp(class_d2, min=0.0) / self.n_features)
            logits = logits - self.fuse * distance
            cam = cam - (self.fuse * distance)[:, :, None, None]
            if self.per_class:
                nearest_d2 = class_d2.gather(1, logits.argmax(dim=1, keepdim=True))[:, 0]
            else:
                nearest_d2 = class_d2.min(dim=1).values
        elif self.rank:
            diff = z[:, None, :] - self.class_means[None]
            proj = diff @ self.directions
            in_span = ((proj * self.dir_scale) ** 2).sum(-1)
            residual = (diff**2).sum(-1) - (proj**2).sum(-1)
            d2 = in_span + residual / self.residual_variance
            nearest_d2 = self._of_predicted_class(d2, logits).min(dim=1).values
        else:
            # The nearest reference by |c|^2 - 2 z.c (|z - c|^2 less |z|^2, the same for
            # every c): one matrix product instead of an [N, references, features]
            # difference, 6-9 % of the graph's CPU at 224 px. Its distance is then
            # taken as |z - c|^2 itself, free of the rounding the expanded form has where
            # z is near c.
            rank = self._of_predicted_class(self.class_sq - 2.0 * (z @ self.class_means_t), logits)
            nearest = self.class_means_t[:, rank.argmin(dim=1)].T
            nearest_d2 = ((z - nearest) ** 2).sum(-1) / self.residual_variance
        unknown = torch.sqrt(torch.clamp(nearest_d2, min=0.0) / self.n_features)
        return (logits, unknown, cam, *(detector_maps[level] for level in self.map_levels))

    def _class_d2(self, z: torch.Tensor) -> torch.Tensor:
        """``[N, C]``: the squared distance to each class's nearest reference, found as
        in :meth:`forward` (by ``|c|^2 - 2 z.c``) and then measured as ``|z - c|^2``."""
        rank = self.class_sq - 2.0 * (z @ self.class_means_t)
        inf = torch.full_like(rank, float("inf"))
        columns = []
        for c in range(self.fused_classes):
            own = self.class_masks[c][None]
            nearest = self.class_means_t[:, torch.where(own, rank, inf).argmin(dim=1)].T
            columns.append(((z - nearest) ** 2).sum(-1))
        return torch.stack(columns, dim=1) / self.residual_variance

    def _of_predicted_class(self, scores: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``scores`` per reference ``[N, M]``, infinite outside the predicted class where
        only its references count (``predicted_class_distance``)."""
        if not self.per_class:
            return scores
        own = self.centre_labels[None, :] == logits.argmax(dim=1, keepdim=True)
        return torch.where(own, scores, torch.full_like(scores, float("inf")))


def _map_level(backbone: Backbone, name: str) -> int:
    """The level of ``backbone`` whose map is the output ``name`` (``block10``: block 10)."""
    networks = backbone.spec.networks
    block = int(name.removeprefix("block"))
    if len(networks) != 1 or block not in networks[0].tap_blocks:
        raise ValueError(f"{name} is not a tapped block of {backbone.spec.name}")
    return networks[0].tap_blocks.index(block)


def _to_cam_grid(level_cam: torch.Tensor, size: int, cam_size: int) -> torch.Tensor:
    """One level's class map ``[N, C, size, size]`` on the ``cam_size`` grid, its spatial
    mean unchanged (so the logits stay the mean of the summed map)."""
    if size == cam_size:
        return level_cam
    if size % cam_size == 0:  # Lite0's block 10 is 14x14: average 2x2 cells, mean kept
        return F.avg_pool2d(level_cam, size // cam_size)
    grid = F.interpolate(level_cam, size=(cam_size, cam_size), mode="bilinear", align_corners=False)
    return grid - grid.mean(dim=(2, 3), keepdim=True) + level_cam.mean(dim=(2, 3), keepdim=True)


def export_onnx(model: DeployableModel, path: Path) -> None:
    """Write ``model`` as ONNX (opset 17, dynamic batch axis) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    side = model.backbone.spec.input_size
    dummy = torch.zeros(2, 3, side, side)
    batch_axis = {0: "batch"}
    names = (*OUTPUT_NAMES, *model.backbone_maps)
    with torch.no_grad():
        torch.onnx.export(
            model.eval(),
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(names),
            dynamic_axes=dict.fromkeys((INPUT_NAME, *names), batch_axis),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    logger.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)


def check_parity(
    model: DeployableModel, path: Path, batch: np.ndarray, tolerance: float = PARITY_TOLERANCE
) -> float:
    """Max abs difference of the logits, torch vs onnxruntime, on ``batch``.

    Raises:
        ExportParityError: a logit differs by more than ``tolerance``, or the unknown score,
            the CAM or a backbone map by more than ``tolerance`` relative to their scale.
    """
    names = (*OUTPUT_NAMES, *model.backbone_maps)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(list(names), {INPUT_NAME: batch.astype(np.float32)})
    with torch.no_grad():
        torch_out = [t.numpy() for t in model.eval()(torch.from_numpy(batch))]
    pairs = zip(names, onnx_out, torch_out, strict=True)
    diffs = {name: float(np.abs(o - t).max()) for name, o, t in pairs}
    logger.info("parity on %d photos: %s", len(batch), diffs)
    if diffs["logits"] > tolerance:
        raise ExportParityError(f"logits differ by {diffs['logits']:.2e} > {tolerance:.0e}")
    for name, ref in zip(names[1:], torch_out[1:], strict=True):
        if diffs[name] > tolerance * max(1.0, float(np.abs(ref).max())):
            raise ExportParityError(f"{name} differs by {diffs[name]:.2e}")
    return diffs["logits"]
