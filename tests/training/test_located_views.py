"""Model 2's training views: made by the serving crop, cached, in the order the detector reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND  # noqa: E402
from amulet_ai.model.localiser import Localiser  # noqa: E402
from amulet_ai.training.data import fingerprint, load_dataset  # noqa: E402
from amulet_ai.training.features import (  # noqa: E402
    DEFAULT_BACKBONE,
    FEATURE_DIM,
    load_backbone,
    spec,
)
from amulet_ai.training.located import (  # noqa: E402
    LocatedViews,
    ViewPlan,
    _cache_file,
    extract_located_views,
    located_crop,
    training_views,
)

pytestmark = pytest.mark.train


def _marked(photos: int, count: int, start: float) -> np.ndarray:
    """``[photos, count, 2]`` where each view holds its kind's number plus its index."""
    values = start + np.arange(count, dtype=np.float32) / 100
    return np.broadcast_to(values[None, :, None], (photos, count, 2)).copy()


def test_references_come_first_and_raw_views_are_references_only_when_asked() -> None:
    views = LocatedViews(
        located=_marked(3, 5, 1.0),
        composites=_marked(3, 2, 2.0),
        raw=_marked(3, 3, 3.0),
        status=np.array(["found"] * 3),
    )
    feats, refs = training_views(views, raw=2, raw_references=False)
    assert refs == 4  # the located crop, its mirror, two composites
    assert feats.shape == (3, 5 + 2 + 2, 2)
    assert np.allclose(feats[0, :, 0], [1.0, 1.01, 2.0, 2.01, 1.02, 1.03, 1.04, 3.0, 3.01])
    feats, refs = training_views(views, raw=2, raw_references=True)
    assert refs == 6
    assert np.allclose(feats[0, :6, 0], [1.0, 1.01, 2.0, 2.01, 3.0, 3.01])


@pytest.fixture(scope="module")
def localiser(model_dir: Path) -> Localiser:
    return Localiser.load(model_dir)


def test_a_tight_photo_is_cropped_as_served_with_its_cloth_grey(
    localiser: Localiser, shared_data: Path
) -> None:
    photo = sorted((shared_data / "phra_sivali" / "front").glob("*.jpg"))[0]
    crop, status = located_crop(localiser, photo.read_bytes())
    assert status == "found"
    assert crop.size == (224, 224)
    pixels = np.asarray(crop)
    for corner in (pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]):
        assert tuple(int(v) for v in corner) == NEUTRAL_BACKGROUND  # the red cloth is gone
    assert (np.abs(pixels.astype(int) - 127).sum(-1) > 30).mean() > 0.3  # the amulet stays


def test_views_of_each_kind_are_extracted_and_cached(
    localiser: Localiser, shared_data: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(shared_data)
    small = type(dataset)(dataset.root, dataset.classes, dataset.photos[:2])
    plan = ViewPlan(located=3, composites=2, raw=1)
    backbone = load_backbone()
    kwargs = {"seed": 0, "fingerprint": fingerprint(small), "cache_dir": tmp_path}
    first = extract_located_views(backbone, localiser, small, plan, **kwargs)
    assert first.located.shape == (2, 3, FEATURE_DIM)
    assert first.composites.shape == (2, 2, FEATURE_DIM)
    assert first.raw.shape == (2, 1, FEATURE_DIM)
    assert list(first.status) == ["found", "found"]
    # Composites are other pictures than the photo itself.
    assert not np.allclose(first.composites[0, 0], first.located[0, 0], atol=1e-3)
    assert len(list(tmp_path.glob("located-*.npz"))) == 1
    again = extract_located_views(backbone, localiser, small, plan, **kwargs)
    assert np.array_equal(first.located, again.located)
    assert np.array_equal(first.composites, again.composites)


def test_the_views_cache_key_holds_the_localisers_version(
    localiser: Localiser, tmp_path: Path
) -> None:
    # The same graph and fields under another version (whose code maps boxes otherwise,
    # as 1.1.2 against 1.1.1) must not read the views back.
    older = Localiser(localiser.session, localiser.metadata.model_copy(update={"version": "1.1.1"}))
    backbone = spec(DEFAULT_BACKBONE)
    names = {
        _cache_file(tmp_path, "fp", each, ViewPlan(), 0, backbone).name
        for each in (localiser, older)
    }
    assert len(names) == 2
