"""Keying amulets out of their studio cloth: generated photos with a known mask, and the
real development photos from ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from amulet_ai.training.cutout import cut_out, cut_out_all
from amulet_ai.training.data import load_dataset


def _amulet_on(cloth: tuple[int, int, int], seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """A textured beige ellipse on ``cloth``, with its true mask."""
    rng = np.random.default_rng(seed)
    truth_img = Image.new("L", (224, 224), 0)
    ImageDraw.Draw(truth_img).ellipse((50, 30, 170, 200), fill=255)
    truth = np.asarray(truth_img) > 0
    pixels = np.empty((224, 224, 3), np.float32)
    pixels[:] = cloth
    pixels += rng.normal(0, 6, pixels.shape)
    relief = rng.normal(0, 18, (224, 224, 1))
    pixels[truth] = (np.array([190, 160, 120]) + relief[truth]).reshape(-1, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), truth


@pytest.mark.parametrize(("cloth", "name"), [((200, 15, 25), "red"), ((12, 10, 14), "black")])
def test_an_amulet_on_studio_cloth_keys_to_its_true_mask(
    cloth: tuple[int, int, int], name: str
) -> None:
    image, truth = _amulet_on(cloth)
    cut = cut_out(image)
    iou = (cut.mask & truth).sum() / (cut.mask | truth).sum()
    assert cut.ok, cut.reason
    assert cut.cloth == name
    assert iou > 0.97
    assert cut.box == (50, 30, 171, 201) or abs(cut.box[0] - 50) <= 2


def test_a_photo_on_another_backdrop_is_reported_not_keyed() -> None:
    image, _ = _amulet_on((40, 160, 60))
    cut = cut_out(image)
    assert not cut.ok
    assert "not a red or black cloth" in cut.reason


def test_a_frame_with_nothing_on_the_cloth_is_reported() -> None:
    image = Image.new("RGB", (224, 224), (200, 15, 25))
    cut = cut_out(image)
    assert not cut.ok and "covers 0%" in cut.reason


def test_development_photos_key_cleanly_or_are_reported(shared_data: Path) -> None:
    dataset = load_dataset(shared_data)
    cuts, rejected = cut_out_all(dataset.photos)
    assert len(cuts) == len(dataset.photos)
    assert len(rejected) <= 5, rejected  # measured: 1 of 137 (wat_nong_e_duk_front_023)
    assert all(reason for _, reason in rejected)
    for cut in cuts:
        if cut.ok:
            assert cut.cloth in ("red", "black")
            assert 0.12 <= cut.mask.mean() <= 0.97
    assert {path for path, _ in rejected} == {
        p.path for p, c in zip(dataset.photos, cuts, strict=True) if not c.ok
    }
