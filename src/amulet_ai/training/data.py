"""The labelled photo set: discovery, class descriptions and a content fingerprint.

The layout is ``<root>/<class_id>/<front|back>/*.jpg``; fronts and backs are both examples
of their class. Class order is the sorted folder names, and that order is the model's.

Example::

    >>> dataset = load_dataset(Path("../shared/data/amulets"))  # doctest: +SKIP
    >>> len(dataset.photos), dataset.classes[0]  # doctest: +SKIP
    (137, 'phra_sivali')
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")
SIDES: Final = ("front", "back")

# Names from the data set's README; descriptions are one line each for the user interface.
CLASS_INFO: Final[dict[str, dict[str, str]]] = {
    "phra_sivali": {
        "name_en": "Phra Sivali",
        "name_th": "พระสีวลี",
        "description": "The monk Sivali, patron of good fortune, with alms bowl and umbrella.",
        "description_th": "พระสีวลี พระอรหันต์ผู้เลิศด้วยลาภ ยืนถือบาตรและกลด",
    },
    "portrait_back": {
        "name_en": "Portrait-back",
        "name_th": "หลังรูปเหมือน",
        "description": "An amulet with a revered monk's portrait on the back.",
        "description_th": "พระเครื่องที่มีรูปเหมือนพระเกจิอาจารย์อยู่ด้านหลัง",
    },
    "prok_bodhi_9_leaves": {
        "name_en": "Prok Bodhi, nine leaves",
        "name_th": "ปรกโพธิ์ 9 ใบ",
        "description": "A seated Buddha sheltered by a canopy of nine Bodhi leaves.",
        "description_th": "พระพุทธรูปปางสมาธิใต้ร่มโพธิ์ 9 ใบ",
    },
    "somdej_pratanporn_buddhagavak": {
        "name_en": "Somdej Pratanporn, Buddhagavak material",
        "name_th": "พระสมเด็จประธานพร เนื้อพุทธกวัก",
        "description": "A Somdej-style seated Buddha pressed in Buddhagavak material.",
        "description_th": "พระสมเด็จประธานพร สร้างจากเนื้อพุทธกวัก",
    },
    "waek_man": {
        "name_en": "Waek Man (parting the curtain)",
        "name_th": "แหวกม่าน",
        "description": "A figure parting a curtain with both hands, a charm for opening the way.",
        "description_th": "องค์พระแหวกม่านด้วยสองมือ เคล็ดเปิดทางโชคลาภ",
    },
    "wat_nong_e_duk": {
        "name_en": "Wat Nong E Duk",
        "name_th": "วัดหนองอีดุก",
        "description": "An amulet issued by Wat Nong E Duk temple.",
        "description_th": "พระเครื่องที่จัดสร้างโดยวัดหนองอีดุก",
    },
}


@dataclass(frozen=True, slots=True)
class Photo:
    """One labelled photo on disk."""

    path: Path
    label: int
    class_id: str
    side: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """All photos of a data folder with the class order they are labelled in."""

    root: Path
    classes: tuple[str, ...]
    photos: tuple[Photo, ...]

    @property
    def labels(self) -> list[int]:
        return [p.label for p in self.photos]

    def per_class(self) -> dict[str, int]:
        counts = Counter(p.class_id for p in self.photos)
        return {c: counts[c] for c in self.classes}


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_dataset(root: Path, *more: Path) -> Dataset:
    """Find every photo under ``root`` (and the ``more`` folders) in the ``<class>/<side>/`` layout.

    With several folders the classes are the union of their class folders, in sorted order,
    and a class's photos are gathered from every folder that has it (``train --data A --data
    B``: the development photos plus an ``export-feedback`` folder, say).

    Raises:
        FileNotFoundError: a folder is missing, or none holds a class folder with photos.
    """
    roots = (root, *more)
    found = {r: _class_dirs(r) for r in roots}
    classes = tuple(sorted({d.name for dirs in found.values() for d in dirs}))
    label_of = {name: label for label, name in enumerate(classes)}
    photos: list[Photo] = []
    for class_id in classes:
        for r in roots:
            class_dir = r / class_id
            if class_dir not in found[r]:
                continue
            for side in SIDES:
                side_dir = class_dir / side
                if side_dir.is_dir():
                    photos.extend(
                        Photo(path, label_of[class_id], class_id, side)
                        for path in image_files(side_dir)
                    )
    if not photos:
        where = ", ".join(str(r) for r in roots)
        raise FileNotFoundError(f"no photos in the <class>/<front|back>/ layout under {where}")
    return Dataset(root, classes, tuple(photos))


def _relative(photo: Photo) -> str:
    # <class>/<side>/<file>: the same under whichever data folder the photo was found.
    return photo.path.relative_to(photo.path.parents[2]).as_posix()


def fingerprint(dataset: Dataset) -> str:
    """SHA-256 over the sorted relative paths and the SHA-256 of each file's bytes."""
    digest = hashlib.sha256()
    for photo in sorted(dataset.photos, key=_relative):
        digest.update(_relative(photo).encode())
        digest.update(hashlib.sha256(photo.path.read_bytes()).digest())
    return digest.hexdigest()


def class_entries(classes: tuple[str, ...]) -> list[dict[str, str]]:
    """Metadata entries for ``classes``; an unknown folder name gets its name as label."""
    entries = []
    for class_id in classes:
        info = CLASS_INFO.get(class_id)
        if info is None:
            label = class_id.replace("_", " ").capitalize()
            info = {
                "name_en": label,
                "name_th": label,
                "description": label,
                "description_th": label,
            }
        entries.append({"id": class_id, **info})
    return entries
