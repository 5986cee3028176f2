"""``export-feedback``: the photos owners corrected or confirmed, in the training layout.

Written as ``DIR/<class_id>/<front|back>/<kind>-<id>.jpg`` with ``DIR/manifest.json``, so
``train --data models_data --data DIR`` can take them next to the development photos:

* a history item whose feedback says ``correct: true``: its photos under the class it was
  given; ``correct: false`` with a ``class_id``: under that class. Feedback naming a free-text
  type (not a model class) is listed in the manifest's ``skipped``, not written.
* a piece with a confirmed class: its photos under that class.

Only items whose photos were kept (``AMULET_HISTORY=photos``, or pieces) can be exported.

Example::

    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.migrate import upgrade
    >>> db = Database("sqlite://"); upgrade(db)
    >>> export_feedback(db, Path(tempfile.mkdtemp()))["photos"]
    0
"""

from __future__ import annotations

import json
import tempfile  # noqa: F401 (the example above)
from pathlib import Path
from typing import Any

from sqlalchemy import select

from amulet_ai.store.database import Database
from amulet_ai.store.models import Feedback, HistoryItem, Photo, Piece

MANIFEST = "manifest.json"


def _write(out: Path, class_id: str, side: str, name: str, data: bytes) -> str:
    folder = out / class_id / side
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jpg"
    path.write_bytes(data)
    return path.relative_to(out).as_posix()


def export_feedback(db: Database, out: Path) -> dict[str, Any]:
    """Write every corrected or confirmed photo under ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with db.read() as session:
        rows = session.execute(
            select(HistoryItem, Feedback)
            .join(Feedback, Feedback.history_id == HistoryItem.id)
            .order_by(HistoryItem.id)
        )
        sources: list[tuple[str, int, str, str, int | None, int | None]] = []
        for item, feedback in rows:
            class_id = item.top1_class_id if feedback.correct else feedback.class_id
            if class_id is None:
                skipped.append(
                    {"kind": "history", "id": item.id, "owner": item.owner,
                     "type_name": feedback.type_name, "reason": "not a model class"}
                )  # fmt: skip
                continue
            sources.append(
                ("history", item.id, item.owner, class_id, item.front_photo_id, item.back_photo_id)
            )
        for piece in session.scalars(
            select(Piece).where(Piece.confirmed_class_id.is_not(None)).order_by(Piece.id)
        ):
            assert piece.confirmed_class_id is not None
            sources.append(
                ("piece", piece.id, piece.owner, piece.confirmed_class_id,
                 piece.front_photo_id, piece.back_photo_id)
            )  # fmt: skip
        for kind, ident, owner, class_id, front_id, back_id in sources:
            if front_id is None and back_id is None:
                skipped.append(
                    {"kind": kind, "id": ident, "owner": owner, "reason": "no photo kept"}
                )
                continue
            for side, photo_id in (("front", front_id), ("back", back_id)):
                if photo_id is None:
                    continue
                data = session.scalar(select(Photo.full_jpeg).where(Photo.id == photo_id))
                if data is None:
                    continue
                path = _write(out, class_id, side, f"{kind}-{ident}", data)
                entries.append(
                    {"path": path, "class_id": class_id, "side": side, "kind": kind,
                     "id": ident, "owner": owner}
                )  # fmt: skip
    manifest = {"photos": len(entries), "entries": entries, "skipped": skipped}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest
