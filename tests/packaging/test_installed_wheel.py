"""The package installed from a wheel (not a checkout) finds its shipped model and serves it.

The wheel is built from this checkout and installed, without dependencies, into a fresh
virtual environment that borrows the test environment's third-party packages; it is run
from a folder outside the repository, so nothing of the checkout is on its path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROBE = """
import json, sys
import amulet_ai, amulet_ai.config as config
from amulet_ai.model import AmuletClassifier
classifier = AmuletClassifier.from_settings(config.Settings())
print(json.dumps({
    "package": amulet_ai.__file__,
    "model_dir": str(config.Settings().model_dir),
    "version": classifier.version,
    "localiser": classifier.localiser.version if classifier.localiser else None,
}))
"""


def test_wheel_install_serves_the_shipped_model(repo_root: Path, tmp_path: Path) -> None:
    # A PYTHONPATH naming the checkout would let pip and the probe see it: drop it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
        cwd=repo_root,
        check=True,
        timeout=300,
        env=env,
    )
    (wheel,) = wheels.glob("amulet_ai-*.whl")
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=300,
        env=env,
    )
    # Then the third-party packages of this environment (a folder named in a .pth file is
    # put on the path as it is: its own .pth files, the checkout's editable hook among
    # them, are not run).
    borrowed = Path(sysconfig.get_path("purelib"))
    (site / "borrowed.pth").write_text(f"{borrowed}\n", encoding="utf-8")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    probe = subprocess.run(
        [str(python), "-I", "-c", PROBE],
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["model_dir"]) == env_dir / "share" / "amulet-ai" / "models"
    metadata = json.loads((repo_root / "models" / "metadata.json").read_text(encoding="utf-8"))
    assert found["version"] == metadata["version"]
    localiser = json.loads((repo_root / "models" / "localiser.json").read_text(encoding="utf-8"))
    assert found["localiser"] == localiser["version"]  # the wheel carries the localiser too
