"""What one decode really holds, measured in a fresh process, against ``decode_footprint``.

The per-decode memory bound (``AMULET_DECODE_MEMORY_LIMIT_MB``) is only as good as the
estimate it is checked against: each format's decode of a 9 MP picture runs in a child
process, and its peak RSS above the RSS before it must stay within the estimate (and 10%
for the allocator).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.imaging.decode import decode_footprint

SIDE = 3000
# Allocator slack and the small pictures made after the big one.
SLACK = 1.1
# The child's peak RSS (VmHWM, which exec resets; ru_maxrss would carry over the parent's)
# above its RSS just before the decode, MB.
_MEASURE = """
import sys
import psutil
from amulet_ai.imaging.decode import decode_draft_and_detail
def hwm():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
data = open(sys.argv[1], "rb").read()
before = psutil.Process().memory_info().rss / 2**20
assert hwm() - before < 8, "the peak before the decode is not the RSS before it"
decode_draft_and_detail(data, draft_side=240, detail_side=480)
print(hwm() - before)
"""


def _picture() -> Image.Image:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.uint16)
    rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {"compress_level": 1}),
        ("WEBP", {"lossless": True, "method": 0}),
        ("WEBP", {"quality": 80, "method": 0}),
        ("HEIF", {"quality": 80}),
    ],
    ids=["png", "webp_lossless", "webp_lossy", "heif"],
)
def test_a_decode_holds_no_more_than_its_footprint(
    fmt: str, options: dict[str, object], tmp_path: Path
) -> None:
    buf = io.BytesIO()
    _picture().save(buf, fmt, **options)
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(buf.getvalue())
    with Image.open(path) as img:
        estimate_mb = decode_footprint(img) / 2**20
    child = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    peak_mb = float(child.stdout.strip())
    assert peak_mb <= estimate_mb * SLACK, (
        f"{fmt} decode peaked at {peak_mb:.0f} MB, estimated {estimate_mb:.0f}"
    )
