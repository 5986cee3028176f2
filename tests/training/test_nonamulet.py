"""The pictures without an amulet that evaluate, train and the status bench measure."""

from __future__ import annotations

import pytest

from amulet_ai.training.nonamulet import non_amulet_images, sample_pictures

pytest.importorskip("skimage")
pytest.importorskip("sklearn")


def test_the_sample_pictures_keep_their_own_size_and_the_224_px_set_is_built_from_them() -> None:
    pictures = sample_pictures()
    sizes = [picture.size for picture in pictures]
    assert (600, 400) in sizes  # scikit-image's coffee, as a collector would upload it
    images = non_amulet_images()
    # Each sample whole and as two crops, then five synthetic pictures.
    assert len(images) == 3 * len(pictures) + 5 == 74
    assert {image.size for image in images} == {(224, 224)}
