"""The amulet localiser: where in a photo the amulet is, run by onnxruntime (no torch).

The localiser graph reads the whole photo letterboxed into a small draft and answers a mask
logit per 16 px cell (:data:`~LocaliserMetadata.stride`). It was trained on a 320 px square
(:data:`~LocaliserMetadata.size`, a 20 x 20 grid); the shipped graph takes any multiple of
32 px a side (:data:`~LocaliserMetadata.multiple`), and is run on the picture's own shape
at a long side of :data:`~LocaliserMetadata.run_size` (256 px: a 4:3 photo is 256 x 192,
a 16 x 12 grid; a smaller picture at its own size). Here the grid is smoothed back to the
draft's pixels, the amulet is the strongest connected region above the threshold, and its
box is mapped to the oriented original's pixels. Three answers are results, not errors,
so a caller can tell the collector how to retake the photo:

* ``found``: a box, its mask and a sharpness figure;
* ``no_amulet``: nothing on the photo looks like an amulet;
* ``too_small`` / ``too_blurred``: something was found, but too few pixels or too little
  detail to judge (the box is still given).

Example::

    >>> localiser = Localiser.load()  # doctest: +SKIP
    >>> picture = decode_picture(open("phone.jpg", "rb").read())  # doctest: +SKIP
    >>> location = localiser.locate(picture)  # doctest: +SKIP
    >>> location.status, location.box  # doctest: +SKIP
    ('found', Box(x=812, y=455, width=1458, height=1863, image_width=4000, image_height=3000))
    >>> crop = square_crop(picture, location)  # 224 px, backdrop greyed  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import onnxruntime as ort
from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from amulet_ai.config import DEFAULT_MODEL_DIR
from amulet_ai.errors import ModelUnavailable
from amulet_ai.imaging.decode import (
    MODEL_INPUT_SIZE,
    NEUTRAL_BACKGROUND,
    DecodedImage,
    to_tensor,
)
from amulet_ai.imaging.masks import scaled_mask
from amulet_ai.model.sessions import cpu_session

logger = logging.getLogger(__name__)

LOCALISER_FILE: Final = "amulet_localiser.onnx"
LOCALISER_METADATA: Final = "localiser.json"
Status = Literal["found", "no_amulet", "too_small", "too_blurred"]
ZOOM_MARGIN: Final = 0.25  # the second pass's square: first box + a quarter each side
# Pixels of the largest canvas a crop's square is drawn on before its resize (12 MB in
# RGB); a photo's crops are far under it, a strip's box can make it its length squared.
MAX_CROP_CANVAS: Final = 2048 * 2048
# A box this share of the photo's width and height or more: the photo is already a tight
# crop and is classified whole, as with ``locate=off`` (model 2 is trained on such photos as
# they are, too). In 5-fold CV on the development photos, all of them tight crops, 0.876 of
# them pass it and tight top-1 is 0.876 (the located, greyed crop: 0.832), as the train
# command's cross-validation prints. The serving path's rule
# (:func:`amulet_ai.serving.locating.fills_frame`); the page reads it to say so.
FILLS_FRAME: Final = 0.7


class HeadSpec(BaseModel):
    """The localiser's head as a graph of its own: it reads the maps ``inputs`` (``block10``,
    ``block15``) of the frozen ``backbone``, which a classifier graph of that backbone may
    output for the photo it judges (its metadata's ``outputs.backbone_maps``)."""

    model_config = ConfigDict(extra="allow")

    onnx_file: str
    onnx_sha256: str | None = None
    inputs: list[str]
    backbone: str


class LocaliserMetadata(BaseModel):
    """``models/localiser.json``: the graph's input and output and the decision rules."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    onnx_file: str = LOCALISER_FILE
    onnx_sha256: str | None = None
    input_name: str = "image"
    output_name: str = "mask_logits"
    size: int = 320  # the square input the graph was trained at, and its largest
    stride: int = 16
    # The graph takes any height and width that are multiples of this (a free-size export),
    # up to ``size``; None: ``size`` x ``size`` only.
    multiple: int | None = None
    # Long side of the letterbox the runtime runs the graph at (None: ``size``); with
    # ``multiple`` the letterbox is the picture's own shape, padded to that multiple, and a
    # picture smaller than ``run_size`` runs at its own long side (not under ``min_run_size``).
    run_size: int | None = None
    min_run_size: int = 192
    # Side of the zoom pass's square (None: the first pass's long side).
    zoom_size: int | None = None
    threshold: float = 0.5
    min_box_fraction: float = 0.1  # box's long side / draft's long side
    min_box_pixels: int = 112  # box's long side in the original's pixels
    min_sharpness: float = 0.0  # see :func:`sharpness`
    # Where no cell passes ``threshold``: a region above this lower one whose box is too
    # small (``min_box_fraction``, ``min_box_pixels``) is an amulet too far away, answered
    # ``too_small`` ("move closer"), not ``no_amulet``. None: not looked for.
    small_threshold: float | None = None
    # A too-small region above ``threshold`` whose strongest cell is under this is answered
    # ``no_amulet``: small, weak regions are more often a thing on the photo than an amulet.
    min_small_peak: float = 0.0
    # True: a too-small region is answered ``no_amulet`` where it is not the only region
    # above ``threshold`` (a far amulet is one spot; a busy picture has several).
    small_alone: bool = False
    # A too-small region whose box is at least ``min_box_fraction`` of the frame (too few
    # pixels because the photo has few, not because the amulet is far) needs this peak.
    min_lowres_peak: float = 0.0
    margin: float = 0.08  # crop margin around the box, share of its long side
    head: HeadSpec | None = None
    metrics: dict[str, object] = {}

    def input_side(self, long_side: int) -> int:
        """The long side of the letterbox both passes of :func:`locate_with` run at, for a
        picture whose long side is ``long_side`` px.

        >>> meta = LocaliserMetadata(name="x", version="0", multiple=32, run_size=256)
        >>> meta.input_side(500), meta.input_side(224), meta.input_side(100)
        (256, 224, 192)
        """
        side = self.size if self.run_size is None else self.run_size
        if self.multiple is None:
            return side
        own = -(-long_side // self.multiple) * self.multiple
        return min(side, max(own, self.min_run_size))

    @classmethod
    def load(cls, path: Path) -> LocaliserMetadata:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise ModelUnavailable(f"Localiser metadata {path.name} is missing.") from exc
        except (ValueError, ValidationError) as exc:
            raise ModelUnavailable(f"Localiser metadata {path.name} is invalid.") from exc


@dataclass(frozen=True, slots=True)
class Box:
    """A box in the pixels of the oriented original photo."""

    x: int
    y: int
    width: int
    height: int
    image_width: int
    image_height: int


@dataclass(frozen=True, slots=True)
class Location:
    """Where the amulet is: the status, the box in original pixels, and the box and mask in
    the decoded picture's pixels (what the crop is taken from)."""

    status: Status
    box: Box | None
    picture_box: tuple[int, int, int, int] | None  # left, top, right, bottom
    mask: np.ndarray | None  # bool [H, W] of the decoded picture
    confidence: float  # the strongest cell's probability
    sharpness: float | None = None


@dataclass(frozen=True, slots=True)
class Letterbox:
    """A picture scaled into a ``size`` square: its tensor and where the picture lies."""

    tensor: np.ndarray  # float32 [3, size, size]
    scale: float
    left: int
    top: int
    width: int  # of the scaled picture inside the square
    height: int


def letterbox(image: Image.Image, size: int, multiple: int | None = None) -> Letterbox:
    """``image`` scaled to fit a ``size`` square, centred on the neutral grey (zero input).

    With ``multiple`` the canvas is not the square but the scaled picture's own size, each
    side rounded up to ``multiple`` (a 4:3 picture at 256: 256 x 192, no grey at all).
    """
    scale = size / max(image.size)
    width = max(1, round(image.size[0] * scale))
    height = max(1, round(image.size[1] * scale))
    if multiple is None:
        canvas_w = canvas_h = size
    else:
        canvas_w, canvas_h = (-(-side // multiple) * multiple for side in (width, height))
    left, top = (canvas_w - width) // 2, (canvas_h - height) // 2
    scaled = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if (width, height) == (canvas_w, canvas_h):
        return Letterbox(to_tensor(scaled), scale, 0, 0, width, height)
    canvas = Image.new("RGB", (canvas_w, canvas_h), NEUTRAL_BACKGROUND)
    canvas.paste(scaled, (left, top))
    return Letterbox(to_tensor(canvas), scale, left, top, width, height)


def _components(cells: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected regions of a small boolean grid (the 20 x 20 cell grid)."""
    seen = np.zeros_like(cells)
    regions = []
    rows, cols = cells.shape
    for start in zip(*np.nonzero(cells), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        queue, region = deque([start]), []
        while queue:
            r, c = queue.popleft()
            region.append((int(r), int(c)))
            for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= nr < rows and 0 <= nc < cols and cells[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    queue.append((nr, nc))
        regions.append(region)
    return regions


def region_mask(
    logits: np.ndarray, size: int | tuple[int, int], threshold: float
) -> tuple[np.ndarray, float]:
    """The letterbox-size mask (bool ``[height, width]``; ``size`` is the letterbox's
    ``(width, height)``, or one side of a square) of the strongest region, and the top cell
    probability, from a ``[GH, GW]`` grid of mask logits."""
    width, height = (size, size) if isinstance(size, int) else size
    prob = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    top = float(prob.max())
    regions = _components(prob > threshold)
    if not regions:
        return np.zeros((height, width), dtype=bool), top
    best = max(regions, key=lambda reg: sum(prob[rc] for rc in reg))
    keep = np.zeros(prob.shape, dtype=np.uint8)
    for rc in best:
        keep[rc] = 1
    # One cell of slack around the region: the smooth map may cross the threshold there.
    slack = keep.copy()
    slack[1:] |= keep[:-1]
    slack[:-1] |= keep[1:]
    slack[:, 1:] |= slack[:, :-1].copy()
    slack[:, :-1] |= slack[:, 1:].copy()
    fine = Image.fromarray(prob.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    near = Image.fromarray(slack * 255).resize((width, height), Image.Resampling.NEAREST)
    return (np.asarray(fine) > threshold) & (np.asarray(near) > 0), top


def sharpness(image: Image.Image, mask: np.ndarray | None = None) -> float:
    """Detail of a 224 px crop: RMS of the grey Laplacian over the amulet, divided by the
    grey level's spread there (so exposure and contrast do not count, blur does)."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    inside = np.ones(lap.shape, bool) if mask is None else mask[1:-1, 1:-1]
    if inside.sum() < 16:
        return 0.0
    spread = float(grey[1:-1, 1:-1][inside].std())
    return float(np.sqrt((lap[inside] ** 2).mean()) / max(spread, 1.0))


def crop_square(box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int, int]:
    """The square around ``box`` (left, top, right, bottom) with ``margin`` on each side."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = side / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def _inner(size: tuple[int, int], square: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The part of ``square`` inside a picture of ``size`` (left, top, right, bottom)."""
    left, top = min(size[0], max(0, square[0])), min(size[1], max(0, square[1]))
    return left, top, max(left, min(size[0], square[2])), max(top, min(size[1], square[3]))


def _into_square(
    part: Image.Image,
    fill: int | tuple[int, int, int],
    square: tuple[int, int, int, int],
    inner: tuple[int, int, int, int],
    size: int,
) -> Image.Image:
    """``part`` (the ``inner`` pixels of ``square``) resized and pasted where it lies on a
    ``size`` px square of ``fill``: what resizing the whole square's canvas gives, within
    the edge pixels, without a canvas of the square's size (:data:`MAX_CROP_CANVAS`)."""
    out = Image.new(part.mode, (size, size), fill)
    sx, sy = size / (square[2] - square[0]), size / (square[3] - square[1])
    x0, y0 = round((inner[0] - square[0]) * sx), round((inner[1] - square[1]) * sy)
    x1, y1 = round((inner[2] - square[0]) * sx), round((inner[3] - square[1]) * sy)
    if inner[2] > inner[0] and inner[3] > inner[1]:
        scaled = part.resize(
            (max(1, x1 - x0), max(1, y1 - y0)), Image.Resampling.BILINEAR, reducing_gap=2.0
        )
        out.paste(scaled, (min(x0, size - 1), min(y0, size - 1)))
    return out


def _crop_padded(
    image: Image.Image,
    square: tuple[int, int, int, int],
    size: int,
    grey_outside: np.ndarray | None = None,
) -> Image.Image:
    """``square`` of ``image`` at ``size`` px; where it leaves the picture, neutral grey
    (Pillow's own crop would fill black); with ``grey_outside`` (a bool mask of ``image``)
    every pixel outside it too, greyed before the resize as on the whole picture.

    A square over :data:`MAX_CROP_CANVAS` pixels (a strip's box is its whole length, and
    the square that long both ways) is resized from its part inside the picture alone."""
    fill = NEUTRAL_BACKGROUND if image.mode == "RGB" else 0
    inner = _inner(image.size, square)
    part = image.crop(inner)
    if grey_outside is not None:
        keep = grey_outside[inner[1] : inner[3], inner[0] : inner[2]].astype(np.uint8) * 255
        part = Image.composite(part, Image.new(image.mode, part.size, fill), Image.fromarray(keep))
    width, height = square[2] - square[0], square[3] - square[1]
    if width * height > MAX_CROP_CANVAS:
        return _into_square(part, fill, square, inner, size)
    canvas = Image.new(image.mode, (width, height), fill)
    canvas.paste(part, (inner[0] - square[0], inner[1] - square[1]))
    return canvas.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _mask_crop(mask: np.ndarray, square: tuple[int, int, int, int], size: int) -> Image.Image:
    """``square`` of a bool mask at ``size`` px (0 / 255, outside the mask's bounds 0):
    what :func:`_crop_padded` gives for the mask as an image, without converting it whole."""
    height, width = mask.shape
    inner = _inner((width, height), square)
    part = mask[inner[1] : inner[3], inner[0] : inner[2]].astype(np.uint8) * 255
    side_w, side_h = square[2] - square[0], square[3] - square[1]
    if side_w * side_h > MAX_CROP_CANVAS:
        return _into_square(Image.fromarray(part), 0, square, inner, size)
    canvas = np.zeros((side_h, side_w), np.uint8)
    at_y, at_x = inner[1] - square[1], inner[0] - square[0]
    canvas[at_y : at_y + part.shape[0], at_x : at_x + part.shape[1]] = part
    return Image.fromarray(canvas).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def square_crop(
    picture: DecodedImage,
    location: Location,
    *,
    size: int = 224,
    margin: float = 0.08,
    grey_outside: bool = True,
) -> Image.Image:
    """The amulet's square crop at ``size`` px: its box plus ``margin``, from the decoded
    picture; with ``grey_outside`` every pixel outside the mask is the neutral grey.

    Without a box (``no_amulet``) the whole picture's centre square is returned.
    """
    image = picture.image
    if location.picture_box is None:
        side = min(image.size)
        left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
        return _crop_padded(image, (left, top, left + side, top + side), size)
    square = crop_square(location.picture_box, margin)
    if grey_outside and location.mask is not None:
        return _crop_padded(image, square, size, grey_outside=location.mask)
    return _crop_padded(image, square, size)


def _checked_session(
    folder: Path, onnx_file: str, sha256: str | None, intra: int, inter: int
) -> ort.InferenceSession:
    path = folder / onnx_file
    if not path.is_file():
        raise ModelUnavailable(f"Localiser file {path.name} is missing.")
    if sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise ModelUnavailable(f"Localiser file {path.name} does not match its metadata.")
    try:
        return cpu_session(path, intra, inter)
    except Exception as exc:  # onnxruntime's load errors share no narrower base class
        raise ModelUnavailable(f"Localiser file {path.name} could not be loaded.") from exc


class Localiser:
    """Loads the localiser graph once; :meth:`locate` is safe to call from many threads.

    ``head_session``, when the metadata names a head graph (:class:`HeadSpec`), computes
    the first pass's logits from backbone maps the classifier already has
    (:meth:`head_logits`)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        metadata: LocaliserMetadata,
        head_session: ort.InferenceSession | None = None,
    ) -> None:
        self.session = session
        self.metadata = metadata
        self.head_session = head_session

    @classmethod
    def load(
        cls,
        model_dir: Path | str | None = None,
        *,
        metadata_file: str = LOCALISER_METADATA,
        intra_op_threads: int = 2,
        inter_op_threads: int = 1,
    ) -> Localiser:
        """Load ``localiser.json`` and its ONNX file from ``model_dir`` (default: models/).

        Raises:
            ModelUnavailable: a file is missing, corrupt or does not match its metadata.
        """
        folder = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        metadata = LocaliserMetadata.load(folder / metadata_file)
        threads = (intra_op_threads, inter_op_threads)
        session = _checked_session(folder, metadata.onnx_file, metadata.onnx_sha256, *threads)
        head = metadata.head
        head_session = None
        if head is not None and not (folder / head.onnx_file).is_file():
            # Only a saving: without it the first pass runs the localiser's own graph.
            logger.warning("localiser head %s is missing: no shared first pass", head.onnx_file)
        elif head is not None:
            head_session = _checked_session(folder, head.onnx_file, head.onnx_sha256, *threads)
        logger.info("localiser loaded name=%s version=%s", metadata.name, metadata.version)
        return cls(session, metadata, head_session)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    def warm_up(self, runs: int) -> None:
        """Run the graph ``runs`` times on a blank draft of each shape a photo usually takes
        (the first runs at a shape are the slow ones): square (the zoom pass, and a photo
        at the classifier's 224 px), and 4:3 either way up."""
        meta = self.metadata
        side = meta.input_side(meta.size)
        shapes = {(side, side)}
        if meta.multiple is not None:
            short = -(-round(side * 3 / 4) // meta.multiple) * meta.multiple
            small = meta.input_side(MODEL_INPUT_SIZE)
            shapes |= {(short, side), (side, short), (small, small)}
        for height, width in sorted(shapes):
            for _ in range(runs):
                self.logits(np.zeros((1, 3, height, width), dtype=np.float32))
        if self.head_session is not None:
            # The maps of a 224 px picture: block 10 at the grid's stride, block 15 at twice it.
            grid = -(-MODEL_INPUT_SIZE // meta.stride)
            sides = (grid, -(-grid // 2))
            maps = {
                arg.name: np.zeros((1, arg.shape[1], side, side), dtype=np.float32)
                for arg, side in zip(self.head_session.get_inputs(), sides, strict=True)
            }
            for _ in range(runs):
                self.head_logits(maps)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Mask logits ``[N, GH, GW]`` of a letterboxed batch ``[N, 3, H, W]``."""
        out = self.session.run([self.metadata.output_name], {self.metadata.input_name: batch})[0]
        return np.asarray(out)[:, 0]

    def reads_maps_of(self, architecture: str, maps: Sequence[str]) -> bool:
        """Whether :meth:`head_logits` can read a classifier's outputs: this localiser has a
        head graph, on the classifier's ``architecture``, whose inputs it outputs."""
        head = self.metadata.head
        return (
            self.head_session is not None
            and head is not None
            and head.backbone == architecture
            and set(head.inputs) <= set(maps)
        )

    def head_logits(self, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        """Mask logits ``[N, GH, GW]`` from the backbone's maps of a letterboxed batch (the
        same as :meth:`logits` of that batch, one backbone run fewer)."""
        head = self.metadata.head
        if self.head_session is None or head is None:
            raise RuntimeError("this localiser has no head graph")
        feeds = {name: maps[name] for name in head.inputs}
        out = self.head_session.run([self.metadata.output_name], feeds)[0]
        return np.asarray(out)[:, 0]

    def locate(
        self,
        picture: DecodedImage,
        *,
        min_zoom: float = 1.0,
        first_logits: np.ndarray | None = None,
    ) -> Location:
        """Find the amulet on a picture from :func:`~amulet_ai.imaging.decode.decode_picture`
        (``min_zoom``, ``first_logits``: see :func:`locate_with`)."""
        return locate_with(
            self.logits, picture, self.metadata, min_zoom=min_zoom, first_logits=first_logits
        )


LogitsFn = Callable[[np.ndarray], np.ndarray]


def locate_with(
    logits_fn: LogitsFn,
    picture: DecodedImage,
    meta: LocaliserMetadata,
    *,
    min_zoom: float = 1.0,
    first_logits: np.ndarray | None = None,
) -> Location:
    """Two passes of the graph ``logits_fn``: the whole picture, then a zoom on what it found.

    The first pass sees the amulet at its size in the photo, where one 16 px cell of the
    draft can be a tenth of it; the second sees the square around the first box (with
    :data:`ZOOM_MARGIN` each side) filling the draft, where the box edges fall within a
    few pixels. The statuses are decided on the first pass's region and the zoomed box.
    The second pass runs only when it would see the amulet at least ``min_zoom`` times
    larger than the first did (the picture's long side over the square's side): below 1
    (the amulet fills the photo, as in a tight crop) it could not see it any closer, and
    the serving path asks more (:data:`amulet_ai.serving.locating.MIN_ZOOM`).
    ``first_logits``, when given, are the first pass's (the letterbox's logits, computed
    from maps the caller had: :meth:`Localiser.head_logits`).
    """
    side_in = meta.input_side(max(picture.image.size))
    boxed = letterbox(picture.image, side_in, meta.multiple)
    if first_logits is None:
        first_logits = logits_fn(boxed.tensor[None])[0]
    first = locate_from_logits(first_logits, boxed, picture, meta)
    if first.picture_box is None or first.status == "too_small":
        return first
    square = crop_square(first.picture_box, ZOOM_MARGIN)
    # The square's edges are rounded one by one: its height can be its width +- 2 px.
    side, side_h = square[2] - square[0], square[3] - square[1]
    if max(picture.image.size) < side * max(1.0, min_zoom):
        return first
    zoom_in = side_in if meta.zoom_size is None else meta.zoom_size
    zoom_img = _crop_padded(picture.image, square, zoom_in)
    zoom = DecodedImage(zoom_img, side, side_h, picture.format)
    zoomed = letterbox(zoom_img, zoom_in, meta.multiple)
    # The zoom pass refines a box the first pass judged: the rules for small and faint
    # regions are the first pass's alone, so every answer it judged stays as before them.
    zoom_logits = logits_fn(zoomed.tensor[None])[0]
    inner = locate_from_logits(zoom_logits, zoomed, zoom, meta, small_rules=False)
    if inner.picture_box is None:
        return first
    to_x, to_y = side / zoom_in, side_h / zoom_in
    zl, zt, zr, zb = inner.picture_box
    pic_w, pic_h = picture.image.size
    refined = (
        max(0, square[0] + int(zl * to_x)),
        max(0, square[1] + int(zt * to_y)),
        min(pic_w, square[0] + int(np.ceil(zr * to_x))),
        min(pic_h, square[1] + int(np.ceil(zb * to_y))),
    )
    if refined[2] <= refined[0] or refined[3] <= refined[1]:
        return first
    # The zoomed mask, back in the picture's pixels.
    zoom_mask = (
        Image.fromarray(inner.mask.astype(np.uint8) * 255).resize(
            (side, side_h), Image.Resampling.BILINEAR
        )
        if inner.mask is not None
        else None
    )
    mask = np.zeros((pic_h, pic_w), dtype=bool)
    if zoom_mask is not None:
        canvas = Image.new("L", (pic_w, pic_h), 0)
        canvas.paste(zoom_mask, (square[0], square[1]))
        mask = np.asarray(canvas) >= 128
    return _judged(picture, refined, mask, first.confidence, meta)


def carried_to(location: Location, draft: DecodedImage, detail: DecodedImage,
               meta: LocaliserMetadata) -> Location:  # fmt: skip
    """``location``, found on ``draft``, carried to ``detail`` (the same photo decoded at
    a larger scale) and judged there: the crop and its sharpness come from ``detail``.

    A location without a box, or one already ``too_small``, is returned as it is.
    """
    if location.picture_box is None or location.status == "too_small":
        return location
    draft_w, draft_h = draft.image.size
    pic_w, pic_h = detail.image.size
    if (draft_w, draft_h) == (pic_w, pic_h):
        return location
    sx, sy = pic_w / draft_w, pic_h / draft_h
    left, top, right, bottom = location.picture_box
    box = (
        int(left * sx),
        int(top * sy),
        min(pic_w, int(np.ceil(right * sx))),
        min(pic_h, int(np.ceil(bottom * sy))),
    )
    mask = None if location.mask is None else scaled_mask(location.mask, (pic_w, pic_h))
    judged = _judged(detail, box, mask, location.confidence, meta, draft_long=1.0)
    # The box in original pixels stays the draft's: the scale changes its rounding only.
    return Location(judged.status, location.box, box, mask, location.confidence, judged.sharpness)


def locate_from_logits(
    logits: np.ndarray,
    boxed: Letterbox,
    picture: DecodedImage,
    meta: LocaliserMetadata,
    *,
    small_rules: bool = True,
) -> Location:
    """The decision rules on one photo's grid of mask logits (training measures with this).

    The strongest region above ``meta.threshold`` is judged (:func:`_judged`). Where there
    is none, a region above ``meta.small_threshold`` is looked for: when its box is too
    small it is answered ``too_small``, else ``no_amulet``. A too-small region above the
    threshold is answered ``no_amulet`` where its peak is weak or it is one region of
    several (:func:`_small_amulet`). As shipped before these rules (``small_threshold``
    None, the rest off), or with ``small_rules`` False (the zoom pass), only the first
    sentence holds."""
    canvas_h, canvas_w = boxed.tensor.shape[1:]
    inside = (
        slice(boxed.top, boxed.top + boxed.height),
        slice(boxed.left, boxed.left + boxed.width),
    )
    draft, confidence = region_mask(logits, (canvas_w, canvas_h), meta.threshold)
    draft = draft[inside]
    faint = False
    if not small_rules:
        meta = meta.model_copy(update=_RULES_OFF)
    if not draft.any() and meta.small_threshold is not None:
        draft = region_mask(logits, (canvas_w, canvas_h), meta.small_threshold)[0][inside]
        faint = True
    if not draft.any():
        return Location("no_amulet", None, None, None, confidence)
    ys, xs = np.nonzero(draft)
    pic_w, pic_h = picture.image.size
    # Each axis its own scale: the letterbox rounds the two sides separately (a 4000 x 100
    # strip at 256 px is 256 x 6, whose y scale is 7 % off its x scale).
    to_x, to_y = pic_w / boxed.width, pic_h / boxed.height
    right = min(pic_w, int(np.ceil((xs.max() + 1) * to_x)))
    bottom = min(pic_h, int(np.ceil((ys.max() + 1) * to_y)))
    picture_box = (int(xs.min() * to_x), int(ys.min() * to_y), right, bottom)
    mask_img = Image.fromarray(draft.astype(np.uint8) * 255).resize(
        (pic_w, pic_h), Image.Resampling.BILINEAR
    )
    mask = np.asarray(mask_img) >= 128
    # The box's long side over the draft's, both in x pixels of the draft.
    y_in_x = to_y / to_x
    draft_long = max(xs.max() - xs.min() + 1, (ys.max() - ys.min() + 1) * y_in_x) / max(
        boxed.width, boxed.height * y_in_x
    )
    box = _original_box(picture, picture_box)
    if _too_small(box, draft_long, meta):
        if faint or _small_amulet(logits, confidence, draft_long, meta):
            return Location("too_small", box, picture_box, mask, confidence)
        return Location("no_amulet", None, None, None, confidence)
    if faint:  # a faint region of an amulet's size is no amulet
        return Location("no_amulet", None, None, None, confidence)
    return _judged(picture, picture_box, mask, confidence, meta, draft_long=draft_long)


_RULES_OFF: Final = {
    "small_threshold": None,
    "min_small_peak": 0.0,
    "small_alone": False,
    "min_lowres_peak": 0.0,
}


def _small_amulet(
    logits: np.ndarray, confidence: float, draft_long: float, meta: LocaliserMetadata
) -> bool:
    """Whether a too-small region above the threshold is answered ``too_small`` (else
    ``no_amulet``): its peak, the other regions, and why it is too small."""
    if confidence < meta.min_small_peak:
        return False
    if draft_long >= meta.min_box_fraction and confidence < meta.min_lowres_peak:
        return False
    if meta.small_alone:
        prob = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        return len(_components(prob > meta.threshold)) == 1
    return True


def _original_box(picture: DecodedImage, picture_box: tuple[int, int, int, int]) -> Box:
    """``picture_box`` (in the decoded picture's pixels) in the oriented original's."""
    pic_w, pic_h = picture.image.size
    left_p, top_p, right, bottom = picture_box
    to_orig_x, to_orig_y = picture.width / pic_w, picture.height / pic_h
    left, top = round(left_p * to_orig_x), round(top_p * to_orig_y)
    return Box(
        x=left,
        y=top,
        width=round(right * to_orig_x) - left,
        height=round(bottom * to_orig_y) - top,
        image_width=picture.width,
        image_height=picture.height,
    )


def _too_small(box: Box, draft_long: float, meta: LocaliserMetadata) -> bool:
    """Too few pixels to judge: under ``min_box_fraction`` of the draft's long side or
    ``min_box_pixels`` of the original's."""
    return draft_long < meta.min_box_fraction or max(box.width, box.height) < meta.min_box_pixels


def _judged(
    picture: DecodedImage,
    picture_box: tuple[int, int, int, int],
    mask: np.ndarray | None,
    confidence: float,
    meta: LocaliserMetadata,
    draft_long: float | None = None,
) -> Location:
    """The box in original pixels and the status: too small, too blurred or found."""
    pic_w, pic_h = picture.image.size
    left_p, top_p, right, bottom = picture_box
    box = _original_box(picture, picture_box)
    if draft_long is None:
        draft_long = max(right - left_p, bottom - top_p) / max(pic_w, pic_h)
    if _too_small(box, draft_long, meta):
        return Location("too_small", box, picture_box, mask, confidence)
    square = crop_square(picture_box, meta.margin)
    crop = _crop_padded(picture.image, square, 224)
    crop_mask = None
    if mask is not None:
        crop_mask = np.asarray(_mask_crop(mask, square, 224)) >= 128
    sharp = sharpness(crop, crop_mask)
    status: Status = "too_blurred" if sharp < meta.min_sharpness else "found"
    return Location(status, box, picture_box, mask, confidence, sharp)
