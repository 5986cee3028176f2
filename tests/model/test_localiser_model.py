"""The committed localiser through onnxruntime: scenes of real development photos on
test-only backdrops, EXIF-rotated photos, bare backdrops and a tampered file."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from amulet_ai.errors import ModelUnavailable
from amulet_ai.imaging.decode import decode_picture
from amulet_ai.model.localiser import LOCALISER_METADATA, Localiser
from amulet_ai.training.cutout import CutOut
from amulet_ai.training.localise import box_iou
from amulet_ai.training.scenes import make_scene


@pytest.fixture(scope="module")
def localiser(model_dir: Path) -> Localiser:
    return Localiser.load(model_dir)


def _ltrb(box: object) -> tuple[int, int, int, int]:
    x, y, w, h = (getattr(box, k) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


@pytest.mark.slow  # six 12 MP scenes: about 30 s on two idle cores
def test_amulets_on_unseen_backdrops_are_found_in_twelve_megapixel_photos(
    localiser: Localiser, cuts: list[CutOut]
) -> None:
    families = ("stone", "paper", "palm", "texture")
    ious = []
    for i, cut in enumerate(cuts):
        scene = make_scene(
            cut, photo=900 + i, number=0, family=families[i % 4], seed=3, canvas="12mp"
        )
        location = localiser.locate(decode_picture(scene.jpeg))
        assert location.box is not None, location.status
        assert (location.box.image_width, location.box.image_height) == scene.image.size
        ious.append(box_iou(_ltrb(location.box), scene.box))
    assert sum(iou >= 0.8 for iou in ious) >= len(ious) - 1, ious


def test_the_box_is_in_the_exif_oriented_photos_pixels(
    localiser: Localiser, cuts: list[CutOut]
) -> None:
    scene = make_scene(cuts[0], photo=950, number=1, family="paper", seed=3, canvas="small")
    # Store the pixels turned a quarter (as a phone does) with the EXIF tag that undoes it.
    stored = scene.image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif.tobytes())
    location = localiser.locate(decode_picture(buf.getvalue()))
    assert location.box is not None
    assert (location.box.image_width, location.box.image_height) == scene.image.size
    assert box_iou(_ltrb(location.box), scene.box) >= 0.8


def test_bare_backdrops_are_no_amulet(localiser: Localiser) -> None:
    statuses = [
        localiser.locate(
            decode_picture(make_scene(None, photo=-1, number=k, family=f, seed=5).jpeg)
        ).status
        for k, f in enumerate(("paper", "stone", "plain", "lit"))
    ]
    assert statuses.count("no_amulet") >= 3, statuses


def test_a_localiser_file_that_does_not_match_its_metadata_is_refused(
    model_dir: Path, tmp_path: Path
) -> None:
    meta = json.loads((model_dir / LOCALISER_METADATA).read_text())
    shutil.copy(model_dir / meta["onnx_file"], tmp_path / meta["onnx_file"])
    meta["onnx_sha256"] = "0" * 64
    (tmp_path / LOCALISER_METADATA).write_text(json.dumps(meta))
    with pytest.raises(ModelUnavailable, match="does not match"):
        Localiser.load(tmp_path)
