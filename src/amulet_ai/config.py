"""Settings: one pydantic-settings class, read from ``AMULET_*`` variables and ``.env``.

Every tunable of the project lives here, documented field by field. ``config_template.env``
at the repository root is generated from this class (``amulet-ai config-template``) and a
test checks that the two agree.

Example::

    >>> from amulet_ai.config import Settings
    >>> Settings(port=9000).port
    9000
"""

from __future__ import annotations

import os
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_CPU_COUNT = os.cpu_count() or 1
# In a checkout (``pip install -e .``) the package is src/amulet_ai, under the repository.
REPO_ROOT = Path(__file__).resolve().parents[2]
# Where a wheel installs the shipped model (pyproject's data-files), under the environment.
INSTALLED_MODEL_DIR = Path(sysconfig.get_path("data")) / "share" / "amulet-ai" / "models"


def default_model_dir() -> Path:
    """The shipped model's folder: the checkout's ``models/``, else the installed copy.

    Example::

        >>> default_model_dir().name
        'models'
    """
    checkout = REPO_ROOT / "models"
    if (checkout / "metadata.json").is_file() or not INSTALLED_MODEL_DIR.is_dir():
        return checkout
    return INSTALLED_MODEL_DIR


DEFAULT_MODEL_DIR = default_model_dir()


class Settings(BaseSettings):
    """Every setting of Amulet-AI; environment variables carry the ``AMULET_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="AMULET_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- General -------------------------------------------------------------------------
    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses unsafe defaults."
    )
    log_level: str = Field("INFO", description="Log level of the amulet_ai loggers.")
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")

    # --- Model ---------------------------------------------------------------------------
    model_dir: Path = Field(
        DEFAULT_MODEL_DIR,
        description="Folder holding the ONNX model and its metadata (default: the checkout's "
        "models/, or the copy an installed wheel carries).",
    )
    model_file: str = Field("amulet_classifier.onnx", description="ONNX file inside model_dir.")
    metadata_file: str = Field("metadata.json", description="Metadata file inside model_dir.")
    intra_op_threads: int = Field(
        2,
        ge=0,
        description="onnxruntime threads inside one inference (0 = runtime default); "
        "idle threads sleep instead of spinning.",
    )
    busy_intra_op_threads: int = Field(
        1,
        ge=0,
        description="onnxruntime threads inside an inference that starts while another is "
        "running: a second session of the model, about 20 MB (equal to intra_op_threads: "
        "one session for all runs).",
    )
    inter_op_threads: int = Field(1, ge=0, description="onnxruntime threads across graph nodes.")
    warmup_runs: int = Field(2, ge=0, description="Inferences run at load before ready.")
    locate: Literal["auto", "off"] = Field(
        "auto",
        description="Default of the predict routes' locate option: auto finds the amulet on "
        "the photo with the localiser in model_dir and classifies its crop; off classifies "
        "the whole photo (already a tight crop). Enrolled types and searches see photos the "
        "same way.",
    )
    crop_turns: Literal[1, 4] = Field(
        4,
        description="With locate=auto, score a cropped photo by its crop and the crop's "
        "three quarter turns (4: mean logits and mean unknown score, three more model runs "
        "a cropped photo), or by the crop alone (1). Only photos whose shorter side is at "
        "least twice the classifier's input are turned (camera frames, not pictures "
        "already cut to about its size); photos classified whole never are. Measured in "
        "the model card, 'Quarter turns of the crop at test time'.",
    )

    # --- API server ----------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the API.")
    workers: int = Field(1, ge=1, description="Number of API worker processes.")
    public_url: str = Field(
        "http://127.0.0.1:8000", description="URL the page and the client use to reach the API."
    )
    max_upload_mb: float = Field(20.0, gt=0, description="Largest accepted upload, per file, MB.")
    max_image_pixels: int = Field(
        50_000_000, gt=0, description="Largest accepted image in pixels (decompression bombs)."
    )
    max_batch_files: int = Field(16, ge=1, description="Most files in one batch request.")
    inference_workers: int = Field(
        _CPU_COUNT + 1,
        ge=1,
        description="Threads that decode and run the model: one more than the cores, so "
        "that a worker waiting for the interpreter lock leaves no core idle.",
        json_schema_extra={"template_default": "the number of CPU cores + 1"},
    )
    gil_switch_interval_ms: float = Field(
        0.5,
        gt=0,
        le=100,
        description="The API process's interpreter switch interval (sys.setswitchinterval, "
        "Python's default 5 ms): how long a worker back from the model may wait for the "
        "interpreter lock while the event loop holds it.",
    )
    queue_size: int = Field(
        64, ge=0, description="Requests that may wait for a worker before 503 overloaded."
    )
    queue_timeout_s: float = Field(
        10.0, gt=0, description="Longest a request waits for a worker before 503."
    )
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="Seconds requests in flight get to finish on SIGTERM."
    )
    request_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Upper bound on one request's waits: for the model lock, and for a "
        "decode's turn in the decode memory budget (503 memory_pressure past it).",
    )
    upload_idle_timeout_s: float = Field(
        15.0, gt=0, description="Longest pause inside an upload body before 408 (a stalled client)."
    )

    # --- Result cache --------------------------------------------------------------------
    cache_enabled: bool = Field(True, description="Cache results by image hash and options.")
    cache_ttl_s: float = Field(3600.0, gt=0, description="Seconds a cached result lives.")
    cache_max_mb: float = Field(64.0, gt=0, description="Byte budget of the result cache, MB.")
    redis_url: str | None = Field(
        None, description="redis:// URL: share cache and rate limits across processes."
    )
    redis_timeout_s: float = Field(
        0.25, gt=0, description="Redis socket timeout; past it the in-process state serves."
    )
    redis_retry_s: float = Field(
        2.0, gt=0, description="While Redis is down, seconds between reconnect attempts."
    )

    # --- Memory --------------------------------------------------------------------------
    memory_limit_mb: float = Field(
        1536.0, gt=0, description="Process RSS ceiling: above it new work gets 503."
    )
    decode_memory_limit_mb: float = Field(
        512.0,
        gt=0,
        description="Most RSS growth one image decode may cause; decodes running at once "
        "wait to share it.",
    )
    gc_high_water_mb: float = Field(
        1024.0, gt=0, description="RSS at which the GC manager collects and shrinks caches."
    )
    gc_interval_s: float = Field(5.0, gt=0, description="How often the GC manager samples RSS.")
    stream_spool_mb: float = Field(
        2.0, gt=0, description="Uploads above this size spill from memory to a temporary file."
    )
    stream_mmap_mb: float = Field(
        50.0, gt=0, description="Files above this size are memory-mapped, not read."
    )

    # --- Security ------------------------------------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Accepted X-API-Key values, comma separated; none = open."
    )
    admin_key: SecretStr | None = Field(
        None, description="Key for /v1/admin routes; unset = admin routes off."
    )
    rate_limit: str = Field(
        "120/minute", description="Per key (or per client IP) limit, limits notation; empty = off."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, comma separated."
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Peers whose X-Forwarded-For the API trusts (the page's address), comma "
        "separated; `all` sets the page's loopback address.",
    )

    # --- Saved work ----------------------------------------------------------------------
    data_dir: Path = Field(
        Path("data"), description="Folder for local data: the SQLite database by default."
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the database (sqlite:///FILE or "
        "postgresql+psycopg://USER:PASSWORD@HOST/DB); unset = SQLite file data_dir/amulet.db.",
    )
    database_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait for a database lock (SQLite busy timeout) or connection.",
    )
    database_recheck_s: float = Field(
        2.0,
        ge=0,
        description="Longest a change made by another process takes to reach this API worker: "
        "whether any API key exists (keys create/revoke) and each owner's enrolled-types "
        "revision are read from the database at most this often (0 = on every request).",
    )
    history: Literal["off", "results", "photos"] = Field(
        "results",
        description="What POST /v1/predict?save=true keeps: off = nothing, results = the "
        "answer only, photos = the answer and the photos (re-encoded JPEG, EXIF stripped).",
    )

    # --- Frontend and client -------------------------------------------------------------
    frontend_host: str = Field("127.0.0.1", description="Address the Streamlit page binds to.")
    frontend_port: int = Field(8501, ge=1, le=65535, description="Port of the Streamlit page.")
    frontend_api_key: SecretStr | None = Field(None, description="API key the page sends.")
    client_timeout_s: float = Field(10.0, gt=0, description="Client timeout per request.")
    client_retries: int = Field(3, ge=0, description="Client retries on 429/503/connection errors.")
    client_max_connections: int = Field(20, ge=1, description="Pooled client connections.")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the client's circuit."
    )
    circuit_reset_s: float = Field(
        15.0, gt=0, description="Seconds the circuit stays open before a trial request."
    )

    @field_validator("api_keys", "cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("crop_turns", mode="before")
    @classmethod
    def _turns_from_text(cls, value: object) -> object:
        # From the environment or .env the count arrives as text; Literal wants the int.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if not self.api_keys and self.database_url is None:
                # Keys may live in the database instead; then the API is never open in
                # production: with no key anywhere, every call needs one (and gets 401).
                raise ValueError(
                    "AMULET_API_KEYS must be set when AMULET_ENV=production "
                    "(or AMULET_DATABASE_URL, with keys made by `keys create`)"
                )
            if "*" in self.cors_origins:
                raise ValueError("AMULET_CORS_ORIGINS='*' is refused when AMULET_ENV=production")
        return self

    @property
    def metadata_path(self) -> Path:
        return self.model_dir / self.metadata_file

    @property
    def database(self) -> str:
        """The database URL in use: ``database_url``, else the SQLite file in ``data_dir``."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'amulet.db').as_posix()}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests override it through dependency overrides."""
    return Settings()
