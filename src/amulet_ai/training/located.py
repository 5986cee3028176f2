"""Training views of model 2: every photo as the serving path sees it, backdrop greyed.

A photo sent with ``locate=auto`` is located by the shipped localiser and cropped with
everything outside its mask set to the neutral grey
(:func:`amulet_ai.model.localiser.square_crop` with ``grey_outside=True``). The training
views are made by that same function, so training and serving cannot drift:

* ``located``: the photo's located, greyed crop, its mirror image, then random views of it
  (:func:`amulet_ai.training.augment.views`); view 0 is the photo as served;
* ``composites``: the photo's cut-out amulet composited on training-family backdrops
  (:mod:`amulet_ai.training.scenes`), cropped at its true box and mask, greyed: the amulet
  at other sizes, turns, perspective and light, as a phone photo shows it;
* ``raw``: the photo as it is, cloth included, and random views of it (what a tight photo
  sent with ``locate=off`` looks like to the classifier).

Every crop is made at the backbone's input size (224 px for Lite0, 260 px with Lite2), as
the serving path makes it at the classifier's ``input.size``. Features are cached under the
cache folder, keyed by the data, the localiser's file and the input size it runs at (its
metadata's ``run_size``, ``multiple`` and the like), the plan and the backbone, like
:mod:`amulet_ai.training.activations`; a backbone whose features are columns of another's
(Lite2's of Lite0+Lite2's) reads that one's cache when it has none of its own.

Example::

    >>> views = extract_located_views(backbone, localiser, dataset, ViewPlan(),
    ...                               seed=0, fingerprint=fp, cache_dir=None)  # doctest: +SKIP
    >>> views.located.shape, views.composites.shape  # doctest: +SKIP
    ((137, 6, 1904), (137, 12, 1904))
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import (
    MODEL_INPUT_SIZE,
    DecodedImage,
    center_square,
    decode_draft_and_detail,
    decode_picture,
    to_tensor,
)
from amulet_ai.model.localiser import Localiser, Location, carried_to, square_crop
from amulet_ai.serving.locating import (
    CROP_MARGIN,
    DRAFT_SIDE,
    FIRST_DETAIL_SIDE,
    MIN_ZOOM,
    detail_side,
    fills_frame,
)
from amulet_ai.training.activations import embed_with_cut
from amulet_ai.training.augment import random_view, views
from amulet_ai.training.backdrops import TRAIN_FAMILIES
from amulet_ai.training.cutout import CutOut, cut_out_all
from amulet_ai.training.data import Dataset
from amulet_ai.training.features import BACKBONES, Backbone, BackboneSpec, feature_columns
from amulet_ai.training.scenes import make_scene, scene_specs

logger = logging.getLogger(__name__)

CACHE_VERSION: Final = "located-v2"
MARGIN: Final = CROP_MARGIN  # the serving crop's margin around the box (contract.md)
COMPOSITE_SEED_OFFSET: Final = 1  # composites use ``seed + 1``, as training.crops does


@dataclass(frozen=True)
class ViewPlan:
    """How many views of each kind per photo."""

    located: int = 6
    # 12 composites (model 2.4.0): scenes right and kept 0.774 -> 0.803 against 4, in
    # command C's cross-validation; 20 measured no better (model card).
    composites: int = 12
    raw: int = 6


@dataclass(frozen=True)
class LocatedViews:
    """Pooled features ``[photos, views, D]`` of each kind, and the localiser's status of
    each photo."""

    located: np.ndarray
    composites: np.ndarray
    raw: np.ndarray
    status: np.ndarray  # str [photos]


def located_crop(
    localiser: Localiser, data: bytes, size: int = MODEL_INPUT_SIZE
) -> tuple[Image.Image, str]:
    """The ``size`` px greyed crop the serving path classifies for ``data`` with
    ``locate=auto`` (a classifier of input size ``size``), and the localiser's status: the
    same first decode, zoom rule, detail decode and crop as
    :func:`amulet_ai.serving.locating.prepare` (a photo without a usable box gives its
    centre square, as served)."""
    draft, detail = decode_draft_and_detail(
        data, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE
    )
    location = localiser.locate(draft, min_zoom=MIN_ZOOM)
    if location.status in ("no_amulet", "too_small"):
        return center_square(draft.image, size), location.status
    if detail_side(location, draft, size) is None:
        detail = draft
    need = detail_side(location, detail, size)
    if need is not None:
        detail = decode_picture(data, min_side=need)
    location = carried_to(location, draft, detail, localiser.metadata)
    if location.status != "found":
        return center_square(draft.image, size), location.status
    crop = square_crop(detail, location, size=size, margin=MARGIN, grey_outside=True)
    return crop, location.status


def served_whole(localiser: Localiser, data: bytes) -> bool:
    """True when the serving path classifies ``data`` whole under ``locate=auto``: the
    localiser's first box fills the frame (:func:`amulet_ai.serving.locating.fills_frame`),
    so the photo is already a tight crop."""
    draft, _ = decode_draft_and_detail(data, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE)
    return fills_frame(localiser.locate(draft, min_zoom=MIN_ZOOM))


def _embed(backbone: Backbone, images: Sequence[Image.Image], dim: int) -> np.ndarray:
    if not images:
        return np.zeros((0, dim), np.float32)
    return embed_with_cut(backbone, np.stack([to_tensor(i) for i in images]))[0]


def _composites(
    cut: CutOut, crop: Image.Image, index: int, specs: list[tuple[int, int, str]], seed: int,
    size: int = MODEL_INPUT_SIZE,
) -> list[Image.Image]:  # fmt: skip
    """Greyed crops of photo ``index``'s amulet composited on training backdrops, at the
    true box and mask. A photo whose cut-out was rejected (its mask is not trusted) is in
    no scene: its slots get random views of its located crop instead."""
    mine = [s for s in specs if s[0] == index]
    if not cut.ok:
        rng = np.random.default_rng([seed + COMPOSITE_SEED_OFFSET, index])
        return [random_view(crop, rng) for _ in mine]
    crops = []
    for _, number, family in mine:
        scene = make_scene(
            cut, photo=index, number=number, family=family, seed=seed + COMPOSITE_SEED_OFFSET
        )
        truth = Location("found", None, scene.box, scene.mask, 1.0)
        picture = DecodedImage(scene.image, *scene.image.size, "JPEG")
        crops.append(square_crop(picture, truth, size=size, margin=MARGIN, grey_outside=True))
    return crops


def _cache_file(cache_dir: Path, fingerprint: str, localiser: Localiser, plan: ViewPlan,
                seed: int, backbone: BackboneSpec) -> Path:  # fmt: skip
    meta = localiser.metadata
    # The graph, and the input it runs at: the same file at another size finds other boxes;
    # and the version, which changes with the rules that find them (1.1.2: each axis its
    # own scale).
    runs_at = (meta.version, meta.onnx_sha256, meta.multiple, meta.run_size, meta.min_run_size,
               meta.zoom_size)  # fmt: skip
    key: tuple[object, ...] = (CACHE_VERSION, fingerprint, runs_at, plan, seed)
    if backbone.name != "lite0":
        key = (*key, backbone.name)
    return cache_dir / f"located-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.npz"


def _load(cache: Path, columns: slice = slice(None)) -> LocatedViews:
    logger.info("located views cache hit %s (columns %s)", cache, columns)
    with np.load(cache, allow_pickle=False) as data:
        out = {k: data[k] if k == "status" else data[k][..., columns] for k in data.files}
    return LocatedViews(**out)


def extract_located_views(
    backbone: Backbone,
    localiser: Localiser,
    dataset: Dataset,
    plan: ViewPlan,
    *,
    seed: int,
    fingerprint: str,
    cache_dir: Path | None,
) -> LocatedViews:
    """The features of every view of ``plan`` for every photo (cached when ``cache_dir``)."""
    spec_ = backbone.spec
    cache = None
    if cache_dir is not None:
        cache = _cache_file(cache_dir, fingerprint, localiser, plan, seed, spec_)
        if cache.is_file():
            return _load(cache)
        for other in BACKBONES.values():
            columns = feature_columns(spec_, other) if other != spec_ else None
            wider = _cache_file(cache_dir, fingerprint, localiser, plan, seed, other)
            if columns is not None and wider.is_file():
                return _load(wider, columns)
    dim, size = spec_.feature_dim, spec_.input_size
    cuts, _ = cut_out_all(dataset.photos)
    specs = scene_specs(list(range(len(cuts))), tuple(TRAIN_FAMILIES), plan.composites)
    located, composites, raw, status = [], [], [], []
    started = time.monotonic()
    for i, (photo, cut) in enumerate(zip(dataset.photos, cuts, strict=True)):
        crop, state = located_crop(localiser, photo.path.read_bytes(), size)
        status.append(state)
        rng = np.random.default_rng([seed, i])
        located.append(_embed(backbone, views(crop, plan.located, rng), dim))
        composites.append(_embed(backbone, _composites(cut, crop, i, specs, seed, size), dim))
        rng = np.random.default_rng([seed, i])
        whole = center_square(Image.fromarray(cut.image), size)  # as served: photo resized
        plain = views(whole, plan.raw, rng) if plan.raw else []
        raw.append(_embed(backbone, plain, dim))
        if (i + 1) % 20 == 0:
            logger.info("located views: %d/%d photos (%.0f s)", i + 1, len(cuts),
                        time.monotonic() - started)  # fmt: skip
    out = LocatedViews(
        located=np.stack(located),
        composites=np.stack(composites),
        raw=np.stack(raw),
        status=np.array(status),
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, located=out.located, composites=out.composites, raw=out.raw,
                 status=out.status)  # fmt: skip
    return out


def training_views(
    views_: LocatedViews, *, raw: int, raw_references: bool = True
) -> tuple[np.ndarray, int]:
    """All training views ``[photos, V, D]`` and how many of the first are the unknown
    detector's references: the located crop and its mirror, the composites, and (with
    ``raw_references``) the plain photo and its mirror; then the random located views and
    the other plain views, which only train the classifier."""
    refs = [views_.located[:, :2], views_.composites]
    rest = [views_.located[:, 2:]]
    plain = views_.raw[:, :raw]
    if raw_references:  # the plain photo and its mirror are references, like the crop
        refs.append(plain[:, :2])
        rest.append(plain[:, 2:])
    else:
        rest.append(plain)
    return np.concatenate([*refs, *rest], axis=1), sum(r.shape[1] for r in refs)
