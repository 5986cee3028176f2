"""Re-exporting the committed localiser with free sizes: its head read back from the graph,
rebuilt in torch, and exported again with the old graph's answers."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from amulet_ai.model.localiser import LOCALISER_FILE, LOCALISER_METADATA, Localiser
from amulet_ai.training.features import load_backbone
from amulet_ai.training.localise import HEAD_FILE, LocaliserNet, _taps
from amulet_ai.training.localise_export import head_from_onnx, reexport


def test_the_head_read_back_from_the_graph_answers_as_the_graph_at_a_free_size(
    model_dir: Path,
) -> None:
    net = LocaliserNet(load_backbone(), head_from_onnx(model_dir / LOCALISER_FILE))
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 192, 256)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(batch)).numpy()[:, 0]
    got = Localiser.load(model_dir).logits(batch)
    assert got.shape == (2, 12, 16)
    assert float(np.abs(got - want).max()) < 1e-3


@pytest.mark.slow  # cuts out every development photo: about 15 s
def test_a_reexport_keeps_the_graphs_answers_and_says_so_in_its_metadata(
    model_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    for name in (LOCALISER_FILE, LOCALISER_METADATA):
        shutil.copy(model_dir / name, tmp_path / name)
    meta = json.loads((tmp_path / LOCALISER_METADATA).read_text())
    meta.pop("head")  # a localiser of before the head had a graph of its own
    (tmp_path / LOCALISER_METADATA).write_text(json.dumps(meta))
    before = Localiser.load(tmp_path)
    assert before.head_session is None
    payload = reexport(shared_data, tmp_path)
    assert payload["metrics"]["parity_reexport_max_abs_logit_diff"] < 1e-3
    written = json.loads((tmp_path / LOCALISER_METADATA).read_text())
    digest = hashlib.sha256((tmp_path / LOCALISER_FILE).read_bytes()).hexdigest()
    assert written["onnx_sha256"] == digest
    head_digest = hashlib.sha256((tmp_path / HEAD_FILE).read_bytes()).hexdigest()
    assert written["head"]["onnx_sha256"] == head_digest
    assert written["head"]["inputs"] == ["block10", "block15"]
    after = Localiser.load(tmp_path)  # the checksums in the metadata match the new files
    batch = np.random.default_rng(1).uniform(-1, 1, (1, 3, 320, 320)).astype(np.float32)
    assert float(np.abs(after.logits(batch) - before.logits(batch)).max()) < 1e-3
    # The head alone, on the backbone's maps of the same batch, answers as the whole graph.
    with torch.no_grad():
        b10, b15 = _taps(load_backbone(), torch.from_numpy(batch))
    head = after.head_logits({"block10": b10.numpy(), "block15": b15.numpy()})
    assert float(np.abs(head - after.logits(batch)).max()) < 1e-3
