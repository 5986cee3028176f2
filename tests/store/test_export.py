"""export-feedback writes corrected and confirmed photos in the training layout."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import result_for
from PIL import Image

from amulet_ai.store import KeptPhoto, Store, export_feedback
from amulet_ai.training.data import load_dataset

MODEL = ("m", "1")


def test_export_writes_the_training_layout_and_a_manifest(
    store: Store, kept: Callable[[int], KeptPhoto], tmp_path: Path
) -> None:
    h = store.history
    confirmed = h.save("ann", result_for("waek_man"), model=MODEL, front=kept(1), back=kept(2))
    h.set_feedback("ann", confirmed, correct=True)
    corrected = h.save("bob", result_for("waek_man"), model=MODEL, front=kept(3))
    h.set_feedback("bob", corrected, correct=False, class_id="phra_sivali")
    free_text = h.save("bob", result_for(), model=MODEL, front=kept(4))
    h.set_feedback("bob", free_text, correct=False, type_name="Somdej Wat Rakang")
    no_photo = h.save("ann", result_for(), model=MODEL)
    h.set_feedback("ann", no_photo, correct=True)
    h.save("ann", result_for(), model=MODEL, front=kept(5))  # no feedback: not exported
    piece = store.pieces.create("ann", name="p", front=kept(6), result=result_for(), model=MODEL)
    store.pieces.update("ann", piece.id, confirmed_class_id="prok_bodhi_9_leaves")

    manifest = export_feedback(store.db, tmp_path)

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg"))
    assert files == [
        f"phra_sivali/front/history-{corrected}.jpg",
        f"prok_bodhi_9_leaves/front/piece-{piece.id}.jpg",
        f"waek_man/back/history-{confirmed}.jpg",
        f"waek_man/front/history-{confirmed}.jpg",
    ]
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert manifest["photos"] == 4
    assert {(s["id"], s["reason"]) for s in manifest["skipped"]} == {
        (free_text, "not a model class"),
        (no_photo, "no photo kept"),
    }
    for path in tmp_path.rglob("*.jpg"):
        assert Image.open(io.BytesIO(path.read_bytes())).format == "JPEG"
    dataset = load_dataset(tmp_path)
    assert dataset.per_class() == {"phra_sivali": 1, "prok_bodhi_9_leaves": 1, "waek_man": 2}


def test_several_data_folders_load_as_one_dataset(
    store: Store, kept: Callable[[int], KeptPhoto], tmp_path: Path, make_photo: Callable[..., bytes]
) -> None:
    dev = tmp_path / "dev"
    for class_id in ("phra_sivali", "waek_man"):
        (dev / class_id / "front").mkdir(parents=True)
        (dev / class_id / "front" / "a.jpg").write_bytes(make_photo(64, 64, seed=1))
    item = store.history.save("ann", result_for("waek_man"), model=MODEL, front=kept(1))
    store.history.set_feedback("ann", item, correct=False, class_id="wat_nong_e_duk")
    exported = tmp_path / "feedback"
    export_feedback(store.db, exported)

    dataset = load_dataset(dev, exported)

    assert dataset.classes == ("phra_sivali", "waek_man", "wat_nong_e_duk")
    assert dataset.per_class() == {"phra_sivali": 1, "waek_man": 1, "wat_nong_e_duk": 1}
    assert [p.label for p in dataset.photos] == [0, 1, 2]


def test_train_takes_several_data_folders(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from amulet_ai.training.train import _parse

    args = _parse(["--data", "a", "--data", "b", "--out", str(tmp_path)])
    assert args.data == [Path("a"), Path("b")]
