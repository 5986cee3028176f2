"""Rendering a class-activation map as a PNG overlay on the photo the model saw.

Example::

    >>> import numpy as np
    >>> from PIL import Image
    >>> png = render_overlay(Image.new("RGB", (224, 224), "white"), np.eye(7, dtype=np.float32))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered map (dark blue, cyan, yellow, red).
_ANCHORS = np.array(
    [[0.0, 0.0, 0.5], [0.0, 0.6, 1.0], [0.3, 1.0, 0.6], [1.0, 0.9, 0.0], [0.9, 0.1, 0.0]],
    dtype=np.float32,
)


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """Keep the evidence for the class (positive part) and scale it to 0..1."""
    positive = np.maximum(cam.astype(np.float32), 0.0)
    top = float(positive.max(initial=0.0))
    return positive / top if top > 0 else positive


def colourise(weights: np.ndarray) -> np.ndarray:
    """Map 0..1 values to RGB uint8 through the anchor colours."""
    pos = np.clip(weights, 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, len(_ANCHORS) - 1)
    frac = (pos - low)[..., None]
    rgb: np.ndarray = (_ANCHORS[low] * (1 - frac) + _ANCHORS[high] * frac) * 255
    return rgb.astype(np.uint8)


def render_overlay(image: Image.Image, cam: np.ndarray, *, alpha: float = 0.45) -> bytes:
    """Blend the upsampled, colourised map over ``image``; returns PNG bytes."""
    weights = normalise_cam(cam)
    small = Image.fromarray((weights * 255).astype(np.uint8), mode="L")
    upsampled = np.asarray(small.resize(image.size, Image.Resampling.BICUBIC), np.float32) / 255
    heat = colourise(upsampled).astype(np.float32)
    base = np.asarray(image.convert("RGB"), np.float32)
    # Weak evidence stays mostly transparent so the photo shows through.
    mix = (alpha * upsampled)[..., None]
    blended = (base * (1 - mix) + heat * mix).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(blended, mode="RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def png_data_url(png: bytes) -> str:
    """PNG bytes as a ``data:`` URL for JSON responses and HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
