"""Pieces of the localiser and crop training that the figures rest on: box IoU, the
per-cell target, the head's shape and the order of training views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from amulet_ai.imaging.decode import decode_picture
from amulet_ai.model.localiser import letterbox
from amulet_ai.training.backdrops import TEXTURE_TRAIN_FAMILIES, TRAIN_FAMILIES
from amulet_ai.training.crops import _training
from amulet_ai.training.cutout import cut_out
from amulet_ai.training.localise import (
    GRID,
    LocaliserHead,
    _target,
    box_iou,
    texture_training_specs,
)
from amulet_ai.training.scenes import make_scene, scene_specs


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_the_cell_target_covers_the_amulets_share_of_the_draft() -> None:
    image = Image.new("RGB", (224, 224), (200, 15, 25))
    ImageDraw.Draw(image).rectangle((50, 40, 170, 190), fill=(180, 150, 110))
    scene = make_scene(cut_out(image), photo=0, number=0, family="plain", seed=0)
    picture = decode_picture(scene.jpeg)
    boxed = letterbox(picture.image, 320)
    target = _target(scene, boxed, picture)
    assert target.shape == (GRID, GRID)
    share = scene.mask.mean() * boxed.width * boxed.height / 320**2
    assert target.mean() == pytest.approx(share, rel=0.05)


def test_the_head_answers_one_logit_per_cell() -> None:
    out = LocaliserHead()(torch.zeros(2, 112, 20, 20), torch.zeros(2, 320, 10, 10))
    assert out.shape == (2, 1, 20, 20)


def test_training_views_put_the_unknown_references_first() -> None:
    feats = {
        "tight_grey": np.arange(3 * 6).reshape(3, 6, 1).astype(float),
        "comp_grey": 100 + np.arange(3 * 4).reshape(3, 4, 1).astype(float),
    }
    views, refs = _training(feats, "grey", composites=True, mirror=True)
    assert refs == 6  # photo, mirror, 4 composites
    assert views[0, :, 0].tolist() == [0, 1, 100, 101, 102, 103, 2, 3, 4, 5]
    views, refs = _training(feats, "grey", composites=False, mirror=False)
    assert refs == 1 and views[0, :, 0].tolist() == [0, 2, 3, 4, 5]


def test_texture_training_scenes_are_other_scenes_on_the_texture_families_only() -> None:
    base = scene_specs([0, 1, 2], tuple(TRAIN_FAMILIES), 12)
    extra = texture_training_specs([0, 1, 2], 4, 5)
    assert len(extra) == 3 * 4 + 5
    assert {family for _, _, family in extra} == set(TEXTURE_TRAIN_FAMILIES)
    assert sum(photo == -1 for photo, _, _ in extra) == 5
    assert not {(p, n) for p, n, _ in base} & {(p, n) for p, n, _ in extra}
    assert texture_training_specs([0, 1], 0, 0) == []
