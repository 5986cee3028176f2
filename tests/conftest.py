"""Fixtures shared by every test package: paths and photos made on the spot."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.training.cutout import CutOut, cut_out_all
from amulet_ai.training.data import load_dataset
from bench.postgres_cluster import PG_BIN, PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "amulets"
MODEL_DIR = REPO_ROOT / "models"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "amulet_classifier.onnx").is_file():
        pytest.fail("the committed model is missing from models/")
    return MODEL_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development photos, read in place from ../shared; skipped where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data/amulets is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cuts(shared_data: Path) -> list[CutOut]:
    """Amulets of six development photos across the classes, cut out of their studio
    backdrop (made once a session: scenes are generated from them)."""
    photos = load_dataset(shared_data).photos[::23]
    return [c for c in cut_out_all(photos)[0] if c.ok]


def _photo_like(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, photo-like RGB array (gradients and blobs), deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.28)
        wave = np.sin(xx / width * fx * 6.28 + phase) * np.cos(yy / height * fy * 6.28)
        channels.append(127 + 100 * wave)
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def make_photo() -> Callable[..., bytes]:
    """Factory: ``make_photo(width, height, fmt="JPEG", seed=0)`` returns encoded bytes."""

    def make(width: int = 224, height: int = 224, fmt: str = "JPEG", seed: int = 0) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(_photo_like(width, height, seed)).save(buf, fmt, quality=90)
        return buf.getvalue()

    return make


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the session; skipped where PostgreSQL is missing."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: a SQLite file, and a new database on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'amulet.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
