"""Write phone-style scenes of a labelled folder as JPEG files, for ``evaluate`` or the API.

Run::

    python -m amulet_ai.training.scene_folder --data ../shared/data/amulets --out build/scenes
    python production_runner.py evaluate --data build/scenes

Each photo whose amulet keys cleanly off its studio backdrop (:mod:`~amulet_ai.training.
cutout`) is composited by :func:`~amulet_ai.training.scenes.make_scene` onto the backdrop
families given (default: the test-only families, never seen in training), ``--per-photo``
scenes each, the families in turn, and written to ``OUT/<class>/<side>/``, so ``evaluate
--data OUT`` judges them as the API would. With the defaults (seed 0, two scenes a photo,
the phone canvas of 2000 x 1500) they are the very scenes of the scenes command's test set
(``evaluate --scenes``, command C of the model card), as JPEG files. ``OUT/scenes.json``
lists each file with its source photo, family, the amulet's true box (left, top, right,
bottom in the file's pixels) and its size in the frame. Photos the model was trained on
stay photos it was trained on: for cross-validated figures use ``evaluate --scenes``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Final, get_args

from amulet_ai.training.backdrops import FAMILIES, TEST_FAMILIES
from amulet_ai.training.cutout import cut_out_all
from amulet_ai.training.data import load_dataset
from amulet_ai.training.scenes import TEST_SCENE_SEED_OFFSET, Canvas, make_scene, scene_specs

logger = logging.getLogger(__name__)

INDEX: Final = "scenes.json"


def write_scene_folder(
    data: Path,
    out: Path,
    *,
    per_photo: int = 2,
    families: tuple[str, ...] = tuple(TEST_FAMILIES),
    canvas: Canvas = "phone",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Write the scenes of ``data``'s photos under ``out``; returns the index written.

    Raises:
        FileNotFoundError: ``data`` holds no photo in the ``<class>/<side>/`` layout.
        ValueError: a family is not one of :data:`~amulet_ai.training.backdrops.FAMILIES`.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown backdrop families {unknown}; known: {sorted(FAMILIES)}")
    dataset = load_dataset(data)
    cuts, rejected = cut_out_all(dataset.photos)
    keyed = [i for i, cut in enumerate(cuts) if cut.ok]
    index: list[dict[str, Any]] = []
    for photo, number, family in scene_specs(keyed, families, per_photo):
        source = dataset.photos[photo]
        scene = make_scene(
            cuts[photo], photo=photo, number=number, family=family,
            seed=seed + TEST_SCENE_SEED_OFFSET, canvas=canvas,
        )  # fmt: skip
        folder = out / source.class_id / source.side
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{source.path.stem}-{number}-{family}.jpg"
        file.write_bytes(scene.jpeg)
        index.append({
            "file": file.relative_to(out).as_posix(),
            "source": source.path.relative_to(data).as_posix(),
            "class_id": source.class_id,
            "family": family,
            "box": list(scene.box),
            "size": list(scene.image.size),
            "fraction": round(scene.fraction, 4),
        })  # fmt: skip
    (out / INDEX).write_text(
        json.dumps(
            {"rejected": [str(p.relative_to(data)) for p, _ in rejected], "scenes": index}, indent=1
        )
        + "\n"  # fmt: skip
    )
    logger.info(
        "%d scenes of %d photos written to %s (%d photos did not key cleanly)",
        len(index), len(keyed), out, len(rejected),
    )  # fmt: skip
    return index


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="scene_folder", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="<class>/<front|back>/ photos")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the scenes to")
    parser.add_argument("--per-photo", type=int, default=2, help="scenes of each photo")
    parser.add_argument(
        "--families", nargs="+", default=list(TEST_FAMILIES), metavar="FAMILY",
        help=f"backdrop families, in turn (default: the test-only ones; all: {sorted(FAMILIES)})",
    )  # fmt: skip
    parser.add_argument(
        "--canvas", choices=get_args(Canvas), default="phone",
        help="phone: 2000 x 1500; 12mp: 4000 x 3000; small: 320-1600 px; draft: 320-480 px",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        index = write_scene_folder(
            args.data, args.out, per_photo=args.per_photo, families=tuple(args.families),
            canvas=args.canvas, seed=args.seed,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    print(f"{len(index)} scenes written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
