"""The photo inputs: camera first, then a front and a back from the phone's gallery.

Streamlit's uploader speaks English of its own ("Browse files", "Drag and drop file here",
"200MB per file", "File must be 20.0MB or smaller."). :func:`localise_uploaders` replaces
those words in the chosen language (CSS hides the instructions and relabels the button; a
small script rewrites the too-large message) and gives the camera uploader
``capture="environment"``, so on a phone one tap opens the camera. The limit said is the
API's own (``GET /v1/model``); Streamlit enforces ``server.maxUploadSize``, which
``production_runner.py frontend`` sets from the same ``AMULET_MAX_UPLOAD_MB``. The widgets
take no ``max_upload_size`` of their own: Streamlit resets a widget whose limit changes,
which would drop the collector's photo when the API's answer comes or goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from amulet_ai.frontend.failures import message
from amulet_ai.frontend.i18n import Language, megabytes, text

PHOTO_TYPES: Final = ["jpg", "jpeg", "png", "webp", "heic", "heif"]
CAMERA_KEY: Final = "camera_photo"
FRONT_KEY: Final = "front_photo"
BACK_KEY: Final = "back_photo"

_BROWSE: Final = '[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"]'
_STYLE: Final = """
[data-testid="stFileUploaderDropzoneInstructions"] {{ display: none; }}
{browse} [data-testid="stMarkdownContainer"] {{ display: none; }}
{browse}::after {{ content: {choose}; }}
.st-key-{camera} {browse}::after {{ content: {camera_word}; }}
"""

# Rewrites Streamlit's own English messages inside the uploaders and opens the camera
# directly on phones. Re-run on every change of the page: Streamlit redraws its widgets.
_SCRIPT: Final = """
window.amuletWords = {words};
if (!window.amuletObserver) {{
  const fix = () => {{
    const words = window.amuletWords;
    document.querySelectorAll('.st-key-{camera} input[type=file]').forEach((input) => {{
      if (input.getAttribute('capture') !== 'environment') {{
        input.setAttribute('capture', 'environment');
        input.setAttribute('accept', 'image/*');
      }}
    }});
    document.querySelectorAll('[data-testid="stFileUploader"] *').forEach((node) => {{
      if (node.children.length) return;
      const said = node.textContent || '';
      if (/^File must be .* or smaller\\.$/.test(said)) node.textContent = words.too_large;
      else if (/files are not allowed\\.$/.test(said)) node.textContent = words.wrong_type;
    }});
  }};
  window.amuletObserver = new MutationObserver(fix);
  window.amuletObserver.observe(document.body, {{ childList: true, subtree: true }});
  fix();
}}
"""


@dataclass(frozen=True, slots=True)
class Photos:
    """The bytes the collector gave: a front (camera or gallery) and maybe a back."""

    front: bytes | None
    back: bytes | None


def localise_uploaders(language: Language, limit_mb: float | None) -> None:
    """Replace Streamlit's English uploader words with the page's (see the module docstring)."""
    limit = megabytes(limit_mb) if limit_mb is not None else ""
    style = _STYLE.format(
        browse=_BROWSE,
        choose=json.dumps(text("choose_photo", language), ensure_ascii=False),
        camera=CAMERA_KEY,
        camera_word=json.dumps(text("open_camera", language), ensure_ascii=False),
    )
    words = {
        "too_large": text("file_too_large", language, limit=limit).strip(),
        "wrong_type": message("unsupported_media_type", language),
    }
    script = _SCRIPT.format(words=json.dumps(words, ensure_ascii=False), camera=CAMERA_KEY)
    st.html(f"<style>{style}</style><script>{script}</script>", unsafe_allow_javascript=True)


def _read(upload: UploadedFile | None) -> bytes | None:
    return upload.getvalue() if upload is not None else None


def photo_inputs(language: Language, limit_mb: float | None) -> Photos:
    """The camera, front and back inputs; the camera's photo wins over a gallery front."""
    # Side by side on a wide screen; on a phone the columns stack, the camera first.
    camera_column, gallery_column = st.columns(2)
    with camera_column:
        camera = st.file_uploader(text("camera", language), PHOTO_TYPES, key=CAMERA_KEY)
    with gallery_column:
        front = st.file_uploader(text("upload_front", language), PHOTO_TYPES, key=FRONT_KEY)
    back = st.file_uploader(text("upload_back", language), PHOTO_TYPES, key=BACK_KEY)
    if limit_mb is not None:
        st.caption(text("upload_limit", language, limit=megabytes(limit_mb)))
    return Photos(front=_read(camera) or _read(front), back=_read(back))
