"""Command C's scenes through the serving path: the real prepare, the same folds, cached."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from amulet_ai.imaging.decode import to_tensor  # noqa: E402
from amulet_ai.serving import locating  # noqa: E402
from amulet_ai.serving.locating import prepare  # noqa: E402
from amulet_ai.training.activations import embed_with_cut  # noqa: E402
from amulet_ai.training.backdrops import TEST_FAMILIES  # noqa: E402
from amulet_ai.training.crops import SHIPPED, crops_main, measure, scene_breakdown  # noqa: E402
from amulet_ai.training.cutout import cut_out_all  # noqa: E402
from amulet_ai.training.data import fingerprint, load_dataset  # noqa: E402
from amulet_ai.training.features import FEATURE_DIM, Backbone, load_backbone  # noqa: E402
from amulet_ai.training.scenes import make_scene, scene_specs  # noqa: E402
from amulet_ai.training.served_scenes import (  # noqa: E402
    AlwaysCropped,
    ServedScenes,
    _cache_file,
    load_served_classifier,
    phone_scene,
    served_features,
    served_figures,
    served_path,
)

pytestmark = pytest.mark.train


def _args(cache_dir: Path, scenes: int = 1) -> argparse.Namespace:
    return argparse.Namespace(localiser=None, threads=2, seed=0, scenes=scenes,
                              cache_dir=cache_dir)  # fmt: skip


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    return load_backbone()


def test_unjudged_scenes_are_not_kept_but_count_for_top1() -> None:
    served = ServedScenes(
        features=np.zeros((2, 3, 1), np.float32),
        paths=np.array(
            [["cropped", "fills_frame", "no_amulet"], ["too_small", "cropped", "cropped"]]
        ),
        iou=np.array([[0.9, 0.3, 0.0], [0.5, 0.8, 0.7]]),
        families=np.array([["stone", "texture", "palm"], ["palm", "stone", "texture"]]),
    )
    labels = np.array([0, 1])
    pred = np.array([[0, 0, 0], [1, 1, 2]])  # right, right, right / right, right, wrong
    score = np.array([[0.1, 0.1, 0.1], [0.1, 0.9, 0.1]])  # one judged right scene flagged
    always_cropped = AlwaysCropped(
        right=np.array([[True, False, True], [True, False, False]]),
        kept=np.array([[True, True, True], [False, True, True]]),
        iou=np.array([[0.9, 0.9, 0.8], [0.6, 0.8, 0.7]]),
    )
    out = served_figures(served, pred, score, labels, 0.5, always_cropped)
    assert out["scene_top1"] == pytest.approx(5 / 6)
    assert out["scene_kept"] == pytest.approx(3 / 6)  # not no_amulet, too_small, nor flagged
    assert out["scene_right_and_kept"] == pytest.approx(2 / 6)
    assert out["lost_against_always_cropped"] == 1  # the no_amulet scene
    assert out["won_against_always_cropped"] == 1  # the frame-filling scene
    paths = out["paths"]
    assert sum(p["share"] for p in paths.values()) == pytest.approx(1.0)
    assert paths["cropped"]["scenes"] == 3 and paths["cropped"]["top1"] == pytest.approx(2 / 3)
    assert paths["cropped"]["top1_always_cropped"] == pytest.approx(1 / 3)
    assert paths["cropped"]["mean_iou"] == pytest.approx(0.8)
    assert paths["cropped"]["families"] == {"stone": 2, "texture": 1}
    assert paths["fills_frame"]["families"] == {"texture": 1}
    assert paths["fills_frame"]["mean_iou_always_cropped"] == pytest.approx(0.9)
    assert paths["no_amulet"]["right_and_kept_always_cropped"] == 1
    assert paths["cropped"]["kept"] == 2 and paths["cropped"]["kept_always_cropped"] == 3
    assert paths["too_small"]["kept"] == 0 and paths["too_small"]["kept_always_cropped"] == 0
    assert out["iou_at_least_0.8"] == pytest.approx(2 / 6)
    assert paths["too_blurred"] == {
        "share": 0.0, "scenes": 0, "top1": None, "top1_always_cropped": None,
        "kept": 0, "kept_always_cropped": 0, "right_and_kept": 0,
        "right_and_kept_always_cropped": 0, "mean_iou": None, "mean_iou_always_cropped": None,
        "families": {},
    }  # fmt: skip


def _features(centres: np.ndarray, labels: np.ndarray, views: int | None) -> np.ndarray:
    """Noisy copies of each photo's class centre: ``[photos, views, D]`` (``[photos, D]``
    when ``views`` is None)."""
    rng = np.random.default_rng(1 if views is None else views)
    shape = (len(labels),) if views is None else (len(labels), views)
    noise = rng.standard_normal((*shape, centres.shape[1])).astype(np.float32)
    out: np.ndarray = (centres[labels] if views is None else centres[labels, None]) + noise
    return out


def _command_c_features() -> tuple[dict[str, Any], tuple[np.ndarray, int, np.ndarray], np.ndarray]:
    """Command C's cached features for 30 photos of six classes (two scenes each, all found),
    the train command's views as ``measure`` takes them, and the class centres."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 5)
    centres = rng.standard_normal((6, FEATURE_DIM)).astype(np.float32) * 0.3
    f = {
        "labels": labels,
        "fronts": np.ones(len(labels), bool),
        "scene_grey": _features(centres, labels, 2),
        "scene_status": np.full((len(labels), 2), "found"),
        "scene_iou": np.full((len(labels), 2), 0.9),
        "non_amulet_grey": rng.standard_normal((4, FEATURE_DIM)).astype(np.float32) * 3,
        "non_amulet_located": np.ones(4, bool),
    }
    shipped = (_features(centres, labels, 4), 2, _features(centres, labels, None))
    return f, shipped, centres


def test_served_scenes_are_scored_by_the_same_folds_as_command_cs_scenes() -> None:
    f, shipped, _ = _command_c_features()
    labels = f["labels"]
    # The very features command C scores, all cropped: the served figures are its figures.
    paths = np.full((len(labels), 2), "cropped", dtype="<U11")
    families = np.full(paths.shape, "stone")
    same = ServedScenes(f["scene_grey"], paths, f["scene_iou"], families)
    figures = measure(f, SHIPPED, 5, 0, shipped, served=same)
    served = figures["served"]
    assert 0 < figures["scene_right_and_kept"] < 1
    assert figures["scenes_by"]["side"]["front"]["scenes"] == paths.size  # all fronts here
    for key in ("scene_top1", "scene_right_and_kept", "scene_kept"):
        assert served[key] == pytest.approx(figures[key])
    held_out = figures["unknown_auroc_unseen_type_scenes"]
    assert served["unknown_auroc_unseen_type"] == pytest.approx(held_out)
    assert served["lost_against_always_cropped"] == served["won_against_always_cropped"] == 0
    # The same pictures, the first scene of every photo not judged: those are not kept.
    paths = same.paths.copy()
    paths[:, 0] = "too_blurred"
    blurred = ServedScenes(f["scene_grey"], paths, f["scene_iou"], families)
    figures = measure(f, SHIPPED, 5, 0, shipped, served=blurred)
    served = figures["served"]
    assert served["scene_top1"] == pytest.approx(figures["scene_top1"])
    lost = served["paths"]["too_blurred"]["right_and_kept_always_cropped"]
    assert lost > 0 and served["lost_against_always_cropped"] == lost
    assert served["scene_right_and_kept"] == pytest.approx(
        figures["scene_right_and_kept"] - lost / paths.size
    )


def test_turned_served_scenes_are_scored_by_the_mean_of_their_turns() -> None:
    f, shipped, centres = _command_c_features()
    labels = f["labels"]
    paths = np.full((len(labels), 2), "cropped", dtype="<U11")
    families = np.full(paths.shape, "stone")
    single = ServedScenes(f["scene_grey"], paths, f["scene_iou"], families)
    base = measure(f, SHIPPED, 5, 0, shipped, served=single)["served"]
    # Four copies of each picture: their mean is the picture itself, figure for figure.
    copies = np.repeat(f["scene_grey"][:, :, None], 4, axis=2)
    same = ServedScenes(copies, paths, f["scene_iou"], families)
    assert measure(f, SHIPPED, 5, 0, shipped, served=same)["served"] == base
    assert base["unknown_auroc_unseen_type"] is not None
    # One far-off turn in four moves the mean a quarter of the way: some answers change.
    odd = copies.copy()
    odd[:, :, 3] = centres[(labels + 1) % 6][:, None] * 12
    turned = measure(
        f, SHIPPED, 5, 0, shipped, served=ServedScenes(odd, paths, f["scene_iou"], families)
    )
    assert turned["served"]["scene_top1"] < base["scene_top1"]


def test_the_scene_breakdown_counts_each_scene_once_per_grouping() -> None:
    # Four photos, two scenes each: families in command C's turn, photo 0 a back.
    right_and_kept = np.array([[True, False], [True, True], [False, False], [True, False]])
    fronts = np.array([False, True, True, True])
    tight_right = np.array([True, True, False, True])
    iou = np.array([[0.9, 0.5], [1.0, 1.0], [0.2, 0.4], [0.8, 0.6]])
    out = scene_breakdown(right_and_kept, iou, fronts, tight_right)
    families = [family for _, _, family in scene_specs(list(range(4)), tuple(TEST_FAMILIES), 2)]
    for name, row in out["family"].items():
        mine = [f == name for f in families]
        assert row == {
            "scenes": sum(mine),
            "right_and_kept": pytest.approx(right_and_kept.ravel()[mine].mean()),
            "mean_iou": pytest.approx(iou.ravel()[mine].mean()),
        }
    for by in ("family", "side", "tight_photo"):
        assert sum(row["scenes"] for row in out[by].values()) == right_and_kept.size
    assert out["side"]["back"] == {
        "scenes": 2,
        "right_and_kept": 0.5,
        "mean_iou": pytest.approx(0.7),
    }
    assert out["side"]["front"]["right_and_kept"] == pytest.approx(3 / 6)
    assert out["tight_photo"]["wrong"] == {
        "scenes": 2,
        "right_and_kept": 0.0,
        "mean_iou": pytest.approx(0.3),
    }
    assert out["tight_photo"]["right"]["right_and_kept"] == pytest.approx(4 / 6)


def test_the_real_path_answers_each_way(shared_data: Path, backbone: Backbone) -> None:
    classifier = load_served_classifier(_args(Path()), backbone.spec)
    tight = sorted((shared_data / "portrait_back" / "front").glob("*.jpg"))[0].read_bytes()
    prepared = prepare(classifier, lambda: tight, "auto")
    assert served_path(prepared) == "fills_frame"
    bare = make_scene(None, photo=-1, number=0, family="stone", seed=0, canvas="phone").jpeg
    assert served_path(prepare(classifier, lambda: bare, "auto")) == "no_amulet"


def test_served_scenes_go_through_prepare_and_are_cached(
    shared_data: Path, backbone: Backbone, tmp_path: Path
) -> None:
    dataset = load_dataset(shared_data)
    small = type(dataset)(dataset.root, dataset.classes, dataset.photos[:2])
    args = _args(tmp_path)
    first = served_features(args, backbone, small)
    assert first.features.shape == (2, 1, FEATURE_DIM)
    assert first.paths.tolist() == [["cropped"], ["cropped"]]  # amulets at 0.90 and 0.29
    assert (first.iou > 0.7).all()  # the boxes answered are the amulets' (scene pixels)
    assert first.families.tolist() == [["stone"], ["paper"]]  # command C's, in turn
    # Photo 1's scene is command C's (phone canvas, seed + 2); its features are those of the
    # picture the serving path returns for it.
    cuts, _ = cut_out_all(small.photos)
    jpeg = phone_scene(cuts[1], 1, 0, scene_specs([1], tuple(TEST_FAMILIES), 1)[0][2], 0).jpeg
    picture = prepare(load_served_classifier(args, backbone.spec), lambda: jpeg, "auto").picture
    expected = embed_with_cut(backbone, to_tensor(picture.image)[None])[0][0]
    assert np.allclose(first.features[1, 0], expected, atol=1e-4)
    cache = _cache_file(args, fingerprint(small), load_served_classifier(args, backbone.spec),
                        backbone)  # fmt: skip
    assert cache.is_file()
    # The second call reads the file: what is stored there is what comes back.
    stored = np.array([["too_small"], ["cropped"]])
    np.savez(cache, features=first.features, paths=stored, iou=first.iou)
    assert served_features(args, backbone, small).paths.tolist() == [["too_small"], ["cropped"]]


def test_the_cache_key_holds_what_changes_the_pictures(
    shared_data: Path, backbone: Backbone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(shared_data)
    small = type(dataset)(dataset.root, dataset.classes, dataset.photos[:2])
    classifier = load_served_classifier(_args(tmp_path), backbone.spec)
    fp = fingerprint(small)
    names = {_cache_file(_args(tmp_path), fp, classifier, backbone)}
    names.add(_cache_file(_args(tmp_path, scenes=2), fp, classifier, backbone))
    monkeypatch.setattr(locating, "FILLS_FRAME", 0.8)
    names.add(_cache_file(_args(tmp_path), fp, classifier, backbone))
    monkeypatch.setattr(locating, "MIN_ZOOM", 1.0)
    names.add(_cache_file(_args(tmp_path), fp, classifier, backbone))
    assert len(names) == 4


def test_served_is_refused_for_a_backbone_the_classifiers_pictures_do_not_fit(
    shared_data: Path, tmp_path: Path
) -> None:
    argv = ["--data", str(shared_data), "--served", "--backbone", "lite2", "--no-report",
            "--cache-dir", str(tmp_path)]  # fmt: skip
    with pytest.raises(SystemExit, match="takes 224 px pictures, the backbone lite2 reads 260"):
        crops_main(argv)
    assert not list(tmp_path.iterdir())  # refused before any feature was made


@pytest.mark.parametrize(
    ("shipped_rule", "other_rule"),
    [
        ('"small_alone": true', '"small_alone": false'),
        # The same graph and fields, a version whose code maps boxes otherwise (1.1.2).
        ('"version": "1.1.2"', '"version": "1.1.1"'),
    ],
)
def test_command_cs_crop_cache_key_holds_the_localisers_status_rule(
    tmp_path: Path, shipped_rule: str, other_rule: str
) -> None:
    # Command C caches the statuses its localiser answers (scenes, non-amulet pictures): a
    # localiser.json with another status rule or version and the same graph must not read
    # them back.
    from amulet_ai.model.localiser import LOCALISER_METADATA
    from amulet_ai.training.crops import _cache_file as crops_cache_file
    from amulet_ai.training.crops import _parse as crops_parse
    from amulet_ai.training.features import DEFAULT_BACKBONE, spec

    shipped = (Path(__file__).resolve().parents[2] / "models" / LOCALISER_METADATA).read_text()
    assert shipped_rule in shipped
    names = set()
    for k, rule in enumerate((shipped_rule, other_rule)):
        folder = tmp_path / str(k)
        folder.mkdir()
        (folder / LOCALISER_METADATA).write_text(shipped.replace(shipped_rule, rule))
        args = crops_parse(["--data", str(tmp_path), "--localiser", str(folder)])
        names.add(crops_cache_file(args, "fp", spec(DEFAULT_BACKBONE)).name)
    assert len(names) == 2


def test_command_cs_served_scenes_take_the_apis_crop_turns_by_default(tmp_path: Path) -> None:
    from amulet_ai.config import Settings
    from amulet_ai.training.crops import _parse as crops_parse

    base = ["--data", str(tmp_path)]
    served_default = Settings().crop_turns
    assert crops_parse([*base, "--served"]).turns == served_default
    assert crops_parse([*base, "--served", "--turns", "1"]).turns == 1
    assert crops_parse(base).turns == 1  # no served scenes: nothing to turn
    assert crops_parse([*base, "--served", "--compare-unknown-scores"]).turns == 1
    with pytest.raises(SystemExit):
        crops_parse([*base, "--turns", "4"])
