"""Re-export a trained localiser graph with free spatial sizes, its head unchanged, and
the head alone (:func:`amulet_ai.training.localise.export_head`).

The localiser's head is small and its backbone frozen, so an exported graph holds all
that training learnt: this reads the head's weights back from ``amulet_localiser.onnx``,
rebuilds the torch net on the installed backbone weights, and exports it again through
:func:`amulet_ai.training.localise.export` (free batch, height and width). The new graph
must answer what the old one answers at the old 320 px input: the largest logit
difference on letterboxed scenes of the development photos is written to
``localiser.json`` (``metrics.parity_reexport_max_abs_logit_diff``) with the new SHA-256.

Run::

    python -m amulet_ai.training.localise_export --data ../shared/data/amulets --model-dir models/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from amulet_ai.model.localiser import LOCALISER_METADATA, LocaliserMetadata
from amulet_ai.training.backdrops import TEST_FAMILIES
from amulet_ai.training.cutout import cut_out_all
from amulet_ai.training.data import load_dataset
from amulet_ai.training.features import load_backbone
from amulet_ai.training.localise import (
    HEAD_FILE,
    SIZE,
    LocaliserHead,
    LocaliserNet,
    export,
    export_head,
    render,
)
from amulet_ai.training.scenes import scene_specs

logger = logging.getLogger(__name__)

PARITY_SCENES: Final = 8


def head_from_onnx(path: Path) -> LocaliserHead:
    """The conv head whose weights the exported graph at ``path`` holds."""
    weights = {
        init.name.removeprefix("head."): torch.from_numpy(numpy_helper.to_array(init).copy())
        for init in onnx.load(str(path)).graph.initializer
        if init.name.startswith("head.")
    }
    head = LocaliserHead()
    head.load_state_dict(weights, strict=True)
    return head.eval()


def _logits(path: Path, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["mask_logits"], {"image": batch})[0])


def reexport(data: Path, model_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Re-export ``model_dir``'s localiser in place; returns the metadata written.

    Raises:
        RuntimeError: the new graph differs from torch, or from the old graph at 320 px,
            by more than :data:`amulet_ai.training.localise.PARITY_TOLERANCE`.
    """
    meta_path = model_dir / LOCALISER_METADATA
    meta = LocaliserMetadata.load(meta_path)
    old_path = model_dir / meta.onnx_file
    cuts, _ = cut_out_all(load_dataset(data).photos)
    usable = [i for i, c in enumerate(cuts) if c.ok]
    specs = scene_specs(usable, tuple(TEST_FAMILIES), 1)
    sample = np.stack(
        [render(cuts, s, seed, "small")[2].tensor for s in specs[:: len(specs) // PARITY_SCENES]]
    )[:PARITY_SCENES]
    net = LocaliserNet(load_backbone(), head_from_onnx(old_path))
    with tempfile.TemporaryDirectory() as tmp:
        new_path = Path(tmp) / meta.onnx_file
        torch_parity = export(net, new_path, sample)
        old_parity = float(np.abs(_logits(new_path, sample) - _logits(old_path, sample)).max())
        if old_parity > 1e-3:
            raise RuntimeError(f"re-exported localiser differs by {old_parity:.2e} at {SIZE} px")
        old_path.write_bytes(new_path.read_bytes())
    head_block = export_head(net, model_dir / HEAD_FILE, sample)
    payload: dict[str, Any] = json.loads(meta_path.read_text())
    payload["head"] = head_block
    payload["onnx_sha256"] = hashlib.sha256(old_path.read_bytes()).hexdigest()
    payload["metrics"]["parity_max_abs_logit_diff"] = torch_parity
    payload["metrics"]["parity_reexport_max_abs_logit_diff"] = old_parity
    payload["training"]["reexport_command"] = (
        "python -m amulet_ai.training.localise_export --data DATA --model-dir models/"
    )
    meta_path.write_text(json.dumps(payload, indent=2) + "\n")
    logger.info(
        "localiser re-exported: parity against torch %.2e, against the old graph %.2e",
        torch_parity,
        old_parity,
    )
    return payload


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="localise_export", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="<class>/<front|back>/ photos")
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    reexport(args.data, args.model_dir, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
