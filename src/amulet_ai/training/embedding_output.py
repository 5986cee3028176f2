"""Expose the unknown detector's embedding as an output of the exported ONNX graph.

The unknown score is ``sqrt(min_r ||z - r||^2 / D)`` where ``z`` is the photo's standardised
pooled features (blocks 10, 14, 15; ``D`` = 624) and ``r`` the reference photos stored in
the graph (those of the predicted class only, with the default recipe's
``predicted_class_distance``). ``z`` is what enrolled types and similarity search compare
photos by, so this module adds it as an output named :data:`EMBEDDING_OUTPUT` ``[N, D]``
by a graph edit: the weights stay as they are and every other output is unchanged, bit for
bit. The train
command calls :func:`add_embedding_output` on each graph it exports; the shipped model got
its output the same way (``python -m amulet_ai.training.embedding_output models/``).

The tensor is found by the graph's structure, not by node names: ``z`` is the input of the
one ``MatMul`` by the references initializer ``[D, M]`` that is also the first input of a
``Sub`` (the nearest reference found by ``|r|^2 - 2 z.r``, its distance taken as
``|z - r|^2``: models from 2.2.1), or of the one ``Sub`` whose second input is the
references initializer ``[1, M, D]``, through an ``Unsqueeze`` (the difference form of
earlier models).

Example::

    >>> add_embedding_output(Path("models/amulet_classifier.onnx"))  # doctest: +SKIP
    624
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Final

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

logger = logging.getLogger(__name__)

EMBEDDING_OUTPUT: Final = "embedding"


class EmbeddingNotFound(ValueError):
    """The graph has no nearest-reference distance whose embedding could be exposed."""


def _find_embedding(graph: onnx.GraphProto) -> tuple[str, int, np.ndarray]:
    """The embedding tensor's name, its width, and the references ``[M, D]``."""
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    subtracted = {node.input[0] for node in graph.node if node.op_type == "Sub" and node.input}
    for node in graph.node:
        if node.op_type != "MatMul" or len(node.input) != 2 or node.input[1] not in inits:
            continue
        refs = inits[node.input[1]]
        if len(refs.dims) == 2 and node.input[0] in subtracted:
            references = numpy_helper.to_array(refs).T.copy()
            return node.input[0], int(refs.dims[0]), references
    for node in graph.node:
        if node.op_type != "Sub" or len(node.input) != 2 or node.input[1] not in inits:
            continue
        refs = inits[node.input[1]]
        source = producers.get(node.input[0])
        if len(refs.dims) != 3 or refs.dims[0] != 1 or source is None:
            continue
        if source.op_type != "Unsqueeze":
            continue
        return source.input[0], int(refs.dims[2]), numpy_helper.to_array(refs)[0]
    raise EmbeddingNotFound("no distance to stored references found in the graph")


def embedding_references(path: Path) -> np.ndarray:
    """The reference embeddings stored in the graph at ``path`` ``[M, D]`` (training photos)."""
    return _find_embedding(onnx.load(str(path)).graph)[2]


def add_embedding_output(path: Path) -> int:
    """Add the :data:`EMBEDDING_OUTPUT` output to the ONNX file at ``path`` in place.

    Returns the embedding's width. A graph that already has the output is left unchanged.

    Raises:
        EmbeddingNotFound: the graph has no nearest-reference unknown score.
    """
    model = onnx.load(str(path))
    graph = model.graph
    tensor, dims, _ = _find_embedding(graph)
    if any(out.name == EMBEDDING_OUTPUT for out in graph.output):
        return dims
    graph.node.append(helper.make_node("Identity", [tensor], [EMBEDDING_OUTPUT], name="embedding"))
    graph.output.append(
        helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch", dims])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    logger.info("added output %s [batch, %d] to %s", EMBEDDING_OUTPUT, dims, path)
    return dims


def embedding_description(dims: int) -> dict[str, object]:
    """The ``embedding`` block of ``metadata.json``."""
    return {
        "dims": dims,
        "method": "standardised pooled features of the unknown detector, the space of its "
        "references; distances are sqrt(d^2 / dims), the unknown score's scale",
    }


def update_model_dir(folder: Path, model_file: str = "amulet_classifier.onnx") -> int:
    """Add the output to the model in ``folder`` and record it in its ``metadata.json``.

    The metadata gets ``outputs.embedding`` and ``embedding`` (width and what it is), and
    the new checksum of the ONNX file.
    """
    onnx_path = folder / model_file
    dims = add_embedding_output(onnx_path)
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["outputs"][EMBEDDING_OUTPUT] = EMBEDDING_OUTPUT
    meta["embedding"] = embedding_description(dims)
    meta["onnx_sha256"] = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return dims


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path, help="folder with the ONNX file and metadata.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    update_model_dir(args.model_dir)


if __name__ == "__main__":
    main()
