"""Generated phone-style scenes: seeded, with a truthful mask and box, families kept apart."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from amulet_ai.training.backdrops import (
    FAMILIES,
    PICTURE_SAMPLES,
    TEST_FAMILIES,
    TEXTURE_SAMPLES,
    TEXTURE_TRAIN_FAMILIES,
    TRAIN_FAMILIES,
    backdrop,
)
from amulet_ai.training.cutout import CutOut, cut_out
from amulet_ai.training.scenes import SIZE_RANGE, make_scene, scene_specs


@pytest.fixture(scope="module")
def cut() -> CutOut:
    image = Image.new("RGB", (224, 224), (200, 15, 25))
    ImageDraw.Draw(image).rounded_rectangle((40, 20, 180, 210), radius=30, fill=(180, 150, 110))
    result = cut_out(image)
    assert result.ok
    return result


def test_train_and_test_families_do_not_overlap() -> None:
    training = set(TRAIN_FAMILIES) | set(TEXTURE_TRAIN_FAMILIES)
    assert not training & set(TEST_FAMILIES)
    assert not set(TRAIN_FAMILIES) & set(TEXTURE_TRAIN_FAMILIES)
    assert set(FAMILIES) == training | set(TEST_FAMILIES)
    # The real-texture training family draws none of the test family's pictures.
    assert not set(PICTURE_SAMPLES) & set(TEXTURE_SAMPLES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_draws_a_varied_backdrop(family: str) -> None:
    first = backdrop(family, np.random.default_rng(1), 200, 150)
    second = backdrop(family, np.random.default_rng(2), 200, 150)
    assert first.shape == (150, 200, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)


def test_a_scene_is_reproducible_from_its_seed(cut: CutOut) -> None:
    one = make_scene(cut, photo=4, number=2, family="wood", seed=7)
    two = make_scene(cut, photo=4, number=2, family="wood", seed=7)
    other = make_scene(cut, photo=4, number=3, family="wood", seed=7)
    assert one.jpeg == two.jpeg and one.box == two.box
    assert one.jpeg != other.jpeg


@pytest.mark.parametrize("number", range(6))
def test_the_box_is_the_masks_extent_and_the_amulet_is_there(cut: CutOut, number: int) -> None:
    scene = make_scene(cut, photo=0, number=number, family="plain", seed=0)
    left, top, right, bottom = scene.box
    ys, xs = np.nonzero(scene.mask)
    assert (left, top, right, bottom) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    width, height = scene.image.size
    assert scene.mask.shape == (height, width)
    assert SIZE_RANGE[0] - 0.02 <= scene.fraction <= SIZE_RANGE[1] + 0.02
    # The amulet's beige differs from any plain backdrop more inside the mask than the
    # backdrop differs from itself: the mask really is where the amulet was pasted.
    pixels = np.asarray(scene.image, np.float32)
    inside = pixels[scene.mask].mean(axis=0)
    outside = pixels[~scene.mask]
    assert np.linalg.norm(outside.mean(axis=0) - inside) > outside.std(axis=0).mean()


def test_a_twelve_megapixel_scene_decodes_to_its_size(cut: CutOut) -> None:
    scene = make_scene(cut, photo=1, number=0, family="palm", seed=0, canvas="12mp")
    with Image.open(io.BytesIO(scene.jpeg)) as img:
        assert sorted(img.size) == [3000, 4000] and img.format == "JPEG"
    assert max(scene.box[2] - scene.box[0], scene.box[3] - scene.box[1]) >= 0.24 * 3000


def test_a_scene_without_an_amulet_has_an_empty_mask() -> None:
    scene = make_scene(None, photo=-1, number=0, family="clutter", seed=0)
    assert not scene.mask.any() and scene.box == (0, 0, 0, 0) and scene.photo == -1


def test_specs_cycle_families_over_the_given_photos_only() -> None:
    specs = scene_specs([3, 8], ("stone", "palm"), per_photo=3)
    assert {p for p, _, _ in specs} == {3, 8}
    assert {f for _, _, f in specs} == {"stone", "palm"}
    assert len(specs) == 6


def test_unknown_family_is_refused(cut: CutOut) -> None:
    with pytest.raises(ValueError, match="unknown backdrop family"):
        make_scene(cut, photo=0, number=0, family="marble", seed=0)


def test_a_size_range_places_the_amulet_at_that_size_and_nothing_else_moves(cut: CutOut) -> None:
    usual = make_scene(cut, photo=1, number=0, family="paper", seed=3, canvas="phone")
    small = make_scene(
        cut, photo=1, number=0, family="paper", seed=3, canvas="phone", size_range=(0.03, 0.25)
    )
    assert SIZE_RANGE[0] <= usual.fraction <= SIZE_RANGE[1] + 0.01
    assert 0.03 <= small.fraction <= 0.25 + 0.01
    assert small.fraction < usual.fraction  # the same draw, mapped onto the smaller range
    assert small.image.size == usual.image.size
    short = min(small.image.size)
    left, top, right, bottom = small.box
    # ``fraction`` is the posed cut-out's side, turned corners included: the mask within it.
    assert (
        0.6 * small.fraction * short
        <= max(right - left, bottom - top)
        <= small.fraction * short + 2
    )
