"""README and QUICK_START say what the code and the measured files say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from amulet_ai.cli import PASSTHROUGH, build_parser
from amulet_ai.ops.readme_blocks import BLOCKS, blocks_in, render_bench_table, sync

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "QUICK_START.md"]
# Pictographs, dingbats, symbols and the variation selector that turns text into emoji.
EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


def read(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


def test_readme_has_every_generated_block_and_each_is_current() -> None:
    readme = read("README.md")
    assert set(blocks_in(readme)) == set(BLOCKS)
    stale = [
        name for name, body in blocks_in(readme).items() if blocks_in(sync(readme))[name] != body
    ]
    assert stale == [], "regenerate with `make docs`"


def test_readme_performance_table_is_the_benchmark_file() -> None:
    latest = REPO_ROOT / "bench" / "results" / "latest.md"
    if not latest.is_file():
        pytest.skip("no committed benchmark results yet")
    assert latest.read_text(encoding="utf-8").strip() in read("README.md")
    assert blocks_in(read("README.md"))["bench"] == render_bench_table()


def test_readme_model_figures_are_the_metadata_figures() -> None:
    metadata = REPO_ROOT / "models" / "metadata.json"
    if not metadata.is_file():
        pytest.skip("no committed model yet")
    meta = json.loads(metadata.read_text(encoding="utf-8"))
    block = blocks_in(read("README.md"))["model"]
    assert meta["version"] in block
    for cls in meta["classes"]:
        assert cls["name_th"] in block and cls["name_en"] in block


def test_architecture_diagram_names_every_subpackage_and_nothing_else() -> None:
    readme = read("README.md")
    diagram = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert diagram, "README has a mermaid diagram"
    named = set(re.findall(r"amulet_ai\.([a-z_]+)", diagram[1]))
    package = REPO_ROOT / "src" / "amulet_ai"
    subpackages = {p.parent.name for p in package.glob("*/__init__.py")}
    assert subpackages - named == set(), "sub-packages missing from the diagram"
    assert named - subpackages - {"cli"} == set(), "the diagram names what does not exist"


@pytest.mark.parametrize("name", DOCS)
def test_commands_shown_in_the_docs_exist(name: str) -> None:
    commands = set(re.findall(r"production_runner\.py ([a-z][a-z-]*)", read(name)))
    known = {*build_parser()._subparsers._group_actions[0].choices, *PASSTHROUGH}  # type: ignore[union-attr]
    assert commands, f"{name} shows the runner"
    assert commands - known == set()


@pytest.mark.parametrize("name", DOCS)
def test_local_links_and_images_exist(name: str) -> None:
    targets = re.findall(r"\]\(([^)#\s]+)\)", read(name))
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (REPO_ROOT / t).exists()]
    assert missing == []


@pytest.mark.parametrize("name", DOCS)
def test_docs_have_no_emoji(name: str) -> None:
    assert EMOJI_RE.findall(read(name)) == []


def test_readme_set_up_is_the_two_make_commands() -> None:
    readme = read("README.md")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```bash\n(.*?)```", setup, re.DOTALL)
    assert code
    lines = [line.split("#")[0].strip() for line in code[1].splitlines()]
    assert [line for line in lines if line] == ["make run", "make test"]


# --- what the docs show of the API is what the API answers ------------------------------------


@pytest.fixture(scope="module")
def served(make_photo: Any) -> dict[str, Any]:
    """One real predict answer and the /metrics text of the real app after it."""
    from fastapi.testclient import TestClient

    from amulet_ai.api.app import create_app
    from amulet_ai.config import Settings

    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            rate_limit="",
            api_keys=[],
            database_url="sqlite://",
            # The pytest process holds many apps: the ceiling is for a server process of its own.
            memory_limit_mb=16384.0,
            gc_high_water_mb=12288.0,
        )
    )
    with TestClient(app) as client:
        photo = make_photo(320, 240, "JPEG", seed=5)
        answer = client.post("/v1/predict", files={"front": ("a.jpg", photo, "image/jpeg")})
        assert answer.status_code == 200, answer.text
        metrics = client.get("/metrics").text
    return {"predict": answer.json(), "metrics": metrics}


def test_readme_predict_example_has_the_fields_the_api_answers(served: dict[str, Any]) -> None:
    section = read("README.md").split("## Use the API", 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL)[1])  # type: ignore[index]
    answer = served["predict"]
    assert set(example) == set(answer)
    for part in ("top1", "unknown", "timing_ms", "model"):
        assert set(example[part]) == set(answer[part]), part
    front, answered = example["images"]["front"], answer["images"]["front"]
    assert set(front) == set(answered)
    assert set(front["location"]) == set(answered["location"])
    assert set(front["location"]["box"]) == {
        "x", "y", "width", "height", "image_width", "image_height"
    }  # fmt: skip


def test_metrics_in_quick_start_queries_are_exported(served: dict[str, Any]) -> None:
    queries = "".join(
        re.findall(r"```(?:promql|yaml)\n(.*?)```", read("QUICK_START.md"), re.DOTALL)
    )
    named = set(re.findall(r"\b(amulet_[a-z_]+)", queries))
    assert named, "QUICK_START shows metric queries"

    def family(name: str) -> str:
        return re.sub(r"_(total|bucket|count|sum|created)$", "", name)

    exported = {family(n) for n in re.findall(r"^# TYPE (\S+) ", served["metrics"], re.M)}
    assert {family(name) for name in named} - exported == set()


@pytest.mark.parametrize("name", [*DOCS, "RELIABILITY.md", "deploy/README.md"])
def test_settings_named_in_the_docs_exist(name: str) -> None:
    from amulet_ai.config import Settings
    from amulet_ai.ops.config_template import env_name

    path = REPO_ROOT / name
    if not path.is_file():
        pytest.skip(f"{name} is not here")
    named = set(re.findall(r"\b(AMULET_[A-Z0-9_]+)", path.read_text(encoding="utf-8")))
    # AMULET_RECORD is no service setting: it asks the tests to rewrite committed figures.
    known = {env_name(field) for field in Settings.model_fields} | {"AMULET_RECORD"}
    assert named - known == set()
