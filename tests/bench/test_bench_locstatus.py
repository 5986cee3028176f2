"""The status bench's shortcut: a rule's answers from cached first-pass logits are the
serving path's own answers under that rule (real models, real ``prepare``)."""

from __future__ import annotations

import functools
import io

import pytest
from PIL import Image, ImageDraw

from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.locating import prepare
from amulet_ai.training.cutout import cut_out
from amulet_ai.training.nonamulet import non_amulet_images
from amulet_ai.training.scenes import make_scene
from bench.bench_locstatus import RULE_FIELDS, Picture, answered, collect

pytest.importorskip("skimage")

RULE = {"small_threshold": 0.1, "min_small_peak": 0.7, "small_alone": True, "min_lowres_peak": 0.99}


def _pictures() -> list[Picture]:
    pictures: list[Picture] = []
    for image in non_amulet_images():
        buf = io.BytesIO()
        image.save(buf, "PNG")
        pictures.append(("none", "tune", "picture_224", "picture", 0.0, buf.getvalue()))
    tight = Image.new("RGB", (224, 224), (200, 15, 25))
    ImageDraw.Draw(tight).rounded_rectangle((40, 20, 180, 210), radius=30, fill=(180, 150, 110))
    cut = cut_out(tight)
    for number in range(8):
        scene = make_scene(cut, photo=0, number=number, family="paper", seed=5,
                           size_range=(0.03, 0.25))  # fmt: skip
        pictures.append(("small", "tune", "paper", "small", scene.fraction, scene.jpeg))
    return pictures


def test_answers_from_cached_logits_are_the_served_answers_under_the_rule() -> None:
    classifier = AmuletClassifier.load(with_localiser=True)
    localiser = classifier.localiser
    assert localiser is not None
    shipped = localiser.metadata
    plain = shipped.model_copy(
        update={k: type(shipped).model_fields[k].default for k in RULE_FIELDS}
    )
    rule = shipped.model_copy(update=RULE)
    pictures = _pictures()
    localiser.metadata = plain
    cases = collect(classifier, pictures)
    localiser.metadata = rule
    served = [
        prepare(classifier, functools.partial(bytes, p[5]), "auto").location.status
        for p in pictures
    ]
    assert [answered(case, rule) for case in cases] == served
    assert [case.served for case in cases] == [answered(case, plain) for case in cases]
    # The rule changes some answers here, so the comparison above is not of equal lists.
    assert served != [case.served for case in cases]
