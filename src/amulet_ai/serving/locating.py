"""One photo made ready for the classifier: found on the photo (``locate=auto``) or whole.

With ``locate=auto`` and a localiser loaded with the model, a photo takes this path on its
inference worker:

1. one decode of the whole photo at a shorter side of :data:`FIRST_DETAIL_SIDE` (as
   shipped, the draft's: a 12 MP JPEG at an eighth of its size, 500 x 375; never a full
   decode of a photo the draft would reduce), and from it the localiser's draft, of the
   size a decode at :data:`DRAFT_SIDE` gives, on which the localiser answers a box and a
   mask, or ``no_amulet``, or ``too_small`` (its zoom pass only where it sees the amulet
   at least :data:`MIN_ZOOM` times larger); where that first pass would read exactly the
   tensor the classifier judges for the photo whole (a square photo at the classifier's
   input size, :func:`shared_first_pass`), the classifier runs on it first and the
   localiser's head reads its backbone maps, so one backbone run gives both answers;
2. a box that fills most of the photo (:data:`FILLS_FRAME` both ways) means the photo is
   already a tight crop: it is classified whole, its box reported, from the draft where
   that holds the very pixels ``locate=off`` decodes (:func:`decodes_alike`: a 12 MP JPEG's
   eighth, a small photo at full size), else from a finer first decode, else from a
   decode of its own as ``locate=off``;
3. otherwise the crop around the box (plus :data:`CROP_MARGIN`) is taken from the draft
   when the crop has at least the classifier's input size there (as the localiser saw
   it: nothing to carry over), else from the first decode when it has, else from a
   second decode at the smallest JPEG DCT scale that gives it (never the full photo unless
   the amulet is that small in it); its sharpness is judged on that crop
   (``too_blurred``);
4. when the classifier's metadata says ``input.backdrop == "grey_outside_mask"`` (model 2),
   every pixel of the crop outside the mask is the neutral grey, by
   :func:`~amulet_ai.model.localiser.square_crop` as in training; ``as_is`` (model 1.2.0)
   keeps the photo's own backdrop.

With ``turns`` above 1 (``AMULET_CROP_TURNS``), a cropped camera frame (shorter side at
least :data:`TURNS_MIN_SIDE` times the classifier's input) is scored by its crop and the
crop's quarter turns (:func:`quarter_turns`) in one run: their mean logits (the mean of
their temperature-scaled log-probabilities, renormalised, is the softmax of the mean logits)
and the mean of their unknown scores; the heatmap and the embedding stay the upright
crop's. A photo classified whole is not turned, nor one about the classifier's size.

With ``mask`` (the API's ``mask=true``) the photo's location also carries the localiser's
mask on the draft (:func:`photo_mask`, a 1-bit PNG), the one the crop's mask is scaled
from; it is encoded only then.

A photo that is not judged (``no_amulet``, ``too_small``, ``too_blurred``) is classified
whole, from the draft (with the shared first pass, from that very run), so the answer still
carries predictions, but the verdict names no
type (:func:`with_locations`). With ``locate=off``, or a model folder without a localiser,
the photo is decoded at the classifier's size and classified whole, as before the
localiser existed. Every decode goes through the classifier's guarded decodes (pixel
ceiling and per-decode memory bound; where the first decode at its finer scale would
exceed the bound, it is taken at the draft's scale, as before it was shared).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import DecodedImage, ImageSource, center_square, dct_scale
from amulet_ai.imaging.masks import mask_data_url
from amulet_ai.model.classifier import AmuletClassifier, PhotoScores, log_softmax
from amulet_ai.model.localiser import FILLS_FRAME as FILLS_FRAME
from amulet_ai.model.localiser import (
    Localiser,
    Location,
    carried_to,
    square_crop,
)
from amulet_ai.model.results import (
    Classification,
    ClassificationStatus,
    LocateMode,
    PhotoBox,
    PhotoLocation,
    PhotoMask,
    PhotoResult,
)

# Shorter side of the localiser's draft (a 12 MP JPEG: its eighth, 500 x 375, the smallest
# DCT scale; the localiser's 256 x 192 letterbox is taken from it).
DRAFT_SIDE: Final = 240
# The crop around the box, a share of its long side each side (the contract's 8 %).
CROP_MARGIN: Final = 0.08
# The localiser's zoom pass runs only where it sees the amulet at least this much larger
# than the first pass. At the 256 px input, on 69 phone scenes (2000 x 1500) of test-only
# backdrops, boxes with IoU >= 0.8 / mean IoU: never 0.812 / 0.865 (1 graph run a photo),
# 1.5 0.942 / 0.918 (1.58 runs), 2.0 0.942 / 0.909 (1.33), always 0.957 / 0.919 (1.99);
# tight photos never take it (``python -m bench.bench_locate --sizes``).
MIN_ZOOM: Final = 1.5
# Shorter side the first decode asks of a photo with ``locate=auto``; the localiser's draft
# is reduced from it (:func:`~amulet_ai.imaging.decode.decode_draft_and_detail`), and a
# crop the draft is short of is taken from it where it holds the classifier's input. At 480
# a 12 MP JPEG decodes once at a quarter (1000 x 750), enough for amulets from a quarter of
# the short side, where the draft alone holds them from about half. Measured
# (``python -m bench.bench_locate --stages``, its ``first_decode`` table, CPU ms, expected
# over the scene generator's amulet sizes; draft-side / 480): 12 MP 47.7 / 44.1 (3:4
# 50.3 / 47.4), 8 MP 28.2 / 22.6, 2 MP 9.4 / 9.2, 1 MP and 224 px the same. But every
# photo whose amulet the draft holds, and every ``no_amulet`` one, pays the finer decode:
# 12 MP +10 ms (32.7 against 42.4), and through the API the benchmark's 12 MP scene and
# 12 MP photo without an amulet took 14-25 ms longer at p50. So the first decode stays at
# the draft's side, and a crop the draft is short of gets a second decode.
FIRST_DETAIL_SIDE: Final = DRAFT_SIDE
# A cropped photo is scored with its quarter turns only where its shorter side is at least
# this many times the classifier's input: a camera frame, which a collector holds any way
# up, and not a picture already cut to about the classifier's size (the development photos
# are 224 px). Three more classifier runs on such a picture would take its server CPU from
# 1.40x to 1.92x of ``locate=off``, over the benchmark's 1.5x bound; a 12 MP scene's goes
# from 40.6 to 54.4 ms at p50 (model card, "Quarter turns of the crop at test time").
TURNS_MIN_SIDE: Final = 2

SourceFn = Callable[[], ImageSource]


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """What the classifier judges (``picture.image`` at its input size, with the original's
    size and format), where the amulet was, and the time the two took (seconds).

    ``scores``: the classifier's evidence on ``picture`` when finding the amulet already
    ran the classifier on it (:func:`shared_first_pass`), with the seconds that took
    (``score_s``, not in ``locate_s``); :func:`scores_of` runs the rest."""

    picture: DecodedImage
    location: PhotoLocation
    decode_s: float
    locate_s: float
    scores: PhotoScores | None = None
    score_s: float = 0.0
    turns: int = 1  # the picture and its quarter turns scored (:func:`scores_of`)


def quarter_turns(image: Image.Image, turns: int) -> list[Image.Image]:
    """``image`` and its first ``turns - 1`` quarter turns, counter-clockwise (1 to 4)."""
    if not 1 <= turns <= 4:
        raise ValueError("turns must be 1 to 4")
    steps = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
    return [image, *(image.transpose(step) for step in steps[: turns - 1])]


def scores_of(classifier: AmuletClassifier, photos: Sequence[PreparedPhoto]) -> list[PhotoScores]:
    """Each prepared photo's evidence: its own where it has it, the others from one run
    (a turned photo's turns in that run too, combined by :func:`mean_of_turns`)."""
    pending = [p for p in photos if p.scores is None]
    pictures = [
        DecodedImage(image, p.picture.width, p.picture.height, p.picture.format)
        for p in pending
        for image in quarter_turns(p.picture.image, p.turns)
    ]
    fresh = iter(classifier.score(pictures))
    out = []
    for p in photos:
        if p.scores is not None:
            out.append(p.scores)
        else:
            out.append(mean_of_turns([next(fresh) for _ in range(p.turns)]))
    return out


def mean_of_turns(turns: Sequence[PhotoScores]) -> PhotoScores:
    """One photo's evidence from its turns' (the first the upright picture): the softmax
    of their mean logits and their mean unknown score; heatmap, picture and embedding of
    the first."""
    if len(turns) == 1:
        return turns[0]
    log_probs = log_softmax(np.mean([t.log_probabilities for t in turns], axis=0))
    first = turns[0]
    return PhotoScores(
        probabilities=np.exp(log_probs),
        log_probabilities=log_probs,
        unknown_score=float(np.mean([t.unknown_score for t in turns])),
        cam=first.cam,
        decoded=first.decoded,
        embedding=first.embedding,
    )


def whole_photo(decoded: DecodedImage) -> PhotoLocation:
    """The location of a photo classified whole (``locate=off``)."""
    box = PhotoBox(
        x=0,
        y=0,
        width=decoded.width,
        height=decoded.height,
        image_width=decoded.width,
        image_height=decoded.height,
    )
    return PhotoLocation(status="whole_photo", method="off", box=box, confidence=None)


def photo_mask(location: Location) -> PhotoMask | None:
    """The localiser's mask as an answer carries it (``mask=true``): a 1-bit PNG at the
    resolution of the picture ``location`` was found on (the draft); None where it has none
    (``no_amulet``)."""
    if location.mask is None or location.box is None or location.status == "no_amulet":
        return None
    height, width = location.mask.shape
    return PhotoMask(image=mask_data_url(location.mask), width=width, height=height)


def _answer(location: Location, mask: PhotoMask | None = None) -> PhotoLocation:
    box = location.box
    return PhotoLocation(
        status=location.status,
        method="localiser",
        box=None
        if box is None or location.status == "no_amulet"
        else PhotoBox(
            x=box.x,
            y=box.y,
            width=box.width,
            height=box.height,
            image_width=box.image_width,
            image_height=box.image_height,
        ),
        confidence=round(min(1.0, max(0.0, location.confidence)), 4),
        mask=mask,
    )


def fills_frame(location: Location) -> bool:
    """True when the amulet's box fills :data:`FILLS_FRAME` of the photo both ways."""
    box = location.box
    if location.status != "found" or box is None:
        return False
    return min(box.width / box.image_width, box.height / box.image_height) >= FILLS_FRAME


def detail_side(location: Location, draft: DecodedImage, size: int) -> int | None:
    """The shorter side a decode needs for the crop around ``location`` to be at least
    ``size`` px there; None when the draft already has it, or is the photo at full size
    (a finer decode would give the same pixels)."""
    assert location.box is not None
    box = location.box
    crop = max(box.width, box.height) * (1 + 2 * CROP_MARGIN)  # original pixels
    # Draft pixels per original pixel, the smaller axis's: a DCT-scaled draft rounds each
    # side up on its own, and the crop needs ``size`` px both ways.
    scale = min(draft.image.size[0] / draft.width, draft.image.size[1] / draft.height)
    if crop * scale >= size or scale >= 1:
        return None
    return math.ceil(min(draft.width, draft.height) * size / crop)


def prepare(
    classifier: AmuletClassifier,
    source: SourceFn,
    mode: LocateMode,
    *,
    mask: bool = False,
    turns: int = 1,
) -> PreparedPhoto:
    """Decode one photo and, with ``mode="auto"``, find the amulet and crop it.

    ``source()`` returns the photo's content afresh for each decode (bytes, or a file
    rewound). With ``mask`` the location carries the localiser's mask on the draft
    (:func:`photo_mask`; encoded only then). A cropped photo is to be scored with
    ``turns`` quarter turns (:func:`scores_of`) where its shorter side is at least
    :data:`TURNS_MIN_SIDE` times the classifier's input; any other with its picture alone.
    Raises what the guarded decodes raise (unsupported, corrupt, too large).
    """
    localiser = classifier.localiser
    size = classifier.input_size
    started = time.perf_counter()
    if mode == "off" or localiser is None:
        decoded = classifier.decode(source())
        return PreparedPhoto(decoded, whole_photo(decoded), time.perf_counter() - started, 0.0)
    draft, detail = classifier.decode_draft_and_detail(
        source(), draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE
    )
    decode_s = time.perf_counter() - started
    mark = time.perf_counter()
    ready: PhotoScores | None = None
    score_s = 0.0
    if shared_first_pass(classifier, draft):
        ready, first_logits = _scored_whole(classifier, localiser, draft)
        score_s = time.perf_counter() - mark
        mark = time.perf_counter()
        location = localiser.locate(draft, min_zoom=MIN_ZOOM, first_logits=first_logits)
    else:
        location = localiser.locate(draft, min_zoom=MIN_ZOOM)
    # The draft's mask: the one the crop's mask is scaled from, whatever decode it is cut from.
    shape = photo_mask(location) if mask else None
    locate_s = time.perf_counter() - mark

    def whole_draft(location: Location) -> PreparedPhoto:
        picture = _whole(draft, size) if ready is None else ready.decoded
        return PreparedPhoto(
            picture, _answer(location, shape), decode_s, locate_s, scores=ready, score_s=score_s
        )

    if location.status in ("no_amulet", "too_small"):
        return whole_draft(location)
    if fills_frame(location):
        if detail is not draft:  # resized from the finer first decode: no second decode
            return PreparedPhoto(_whole(detail, size), _answer(location, shape), decode_s, locate_s)
        if decodes_alike(draft, size):  # the very pixels locate=off reads
            return whole_draft(location)
        mark = time.perf_counter()
        decoded = classifier.decode(source())
        decode_s += time.perf_counter() - mark
        return PreparedPhoto(decoded, _answer(location, shape), decode_s, locate_s)
    if detail_side(location, draft, size) is None:
        detail = draft  # the crop has its pixels on the draft: no carrying over
    need = detail_side(location, detail, size)
    if need is not None:
        mark = time.perf_counter()
        detail = classifier.decode_whole(source(), min_side=need)
        decode_s += time.perf_counter() - mark
    mark = time.perf_counter()
    location = carried_to(location, draft, detail, localiser.metadata)
    if location.status != "found":
        locate_s += time.perf_counter() - mark
        return whole_draft(location)
    grey = classifier.metadata.input.backdrop == "grey_outside_mask"
    crop = square_crop(detail, location, size=size, margin=CROP_MARGIN, grey_outside=grey)
    picture = DecodedImage(crop, draft.width, draft.height, draft.format)
    locate_s += time.perf_counter() - mark
    turned = turns if min(draft.width, draft.height) >= TURNS_MIN_SIDE * size else 1
    return PreparedPhoto(
        picture, _answer(location, shape), decode_s, locate_s, score_s=score_s, turns=turned
    )


def shared_first_pass(classifier: AmuletClassifier, draft: DecodedImage) -> bool:
    """True when the localiser's first pass on ``draft`` reads the very tensor the
    classifier judges for the photo whole, and can take its logits from the classifier's
    run (:attr:`~amulet_ai.model.classifier.AmuletClassifier.shares_backbone`): a square
    picture at the classifier's input size, which the localiser runs at its own size (as
    shipped, a 224 px photo), decoded as ``locate=off`` decodes it.

    Then the photo costs one backbone run where the amulet fills the frame, or is not
    found, and two only where it is cropped."""
    localiser = classifier.localiser
    if localiser is None or not classifier.shares_backbone:
        return False
    meta = localiser.metadata
    size = classifier.input_size
    return (
        draft.image.size == (size, size)
        and meta.multiple is not None
        and size % meta.multiple == 0
        and meta.input_side(size) == size
        and decodes_alike(draft, size)
    )


def _scored_whole(
    classifier: AmuletClassifier, localiser: Localiser, draft: DecodedImage
) -> tuple[PhotoScores, np.ndarray]:
    """The classifier's evidence on the whole ``draft`` and, from the same backbone run,
    the localiser's first-pass logits on it."""
    scores, maps = classifier.score_with_maps([_whole(draft, classifier.input_size)])
    return scores[0], localiser.head_logits(maps)[0]


def decodes_alike(draft: DecodedImage, size: int) -> bool:
    """True when the classifier's own decode at ``size`` would read the same pixels as the
    decode ``draft`` (one decode of its own, not reduced from a finer one): a JPEG at the
    DCT scale that decode takes (a 12 MP photo: its eighth, as the draft), any other format
    at full size. There a photo that fills its frame gets the very answer of ``locate=off``
    without a second decode."""
    width, height = draft.width, draft.height
    if draft.format == "JPEG":
        scale = dct_scale((width, height), size)
        return draft.image.size == (-(-width // scale), -(-height // scale))
    return draft.image.size == (width, height)


def _whole(draft: DecodedImage, size: int) -> DecodedImage:
    """The whole photo at the classifier's size, from the draft (as ``decode_image``)."""
    return DecodedImage(center_square(draft.image, size), draft.width, draft.height, draft.format)


def with_locations(
    verdict: Classification, front: PhotoLocation, back: PhotoLocation | None
) -> Classification:
    """``verdict`` with each photo's location and the answer's ``status``.

    ``status`` is ``ok`` when every photo sent was judged, else the front's problem if it
    has one, else the back's; then the answer names no type (``unknown.is_unknown``, and
    the unjudged photo's own verdict, are true), though its predictions stay.
    """
    images = verdict.images
    sides: list[tuple[PhotoResult, PhotoLocation]] = [(images.front, front)]
    if images.back is not None and back is not None:
        sides.append((images.back, back))
    for photo, location in sides:
        photo.location = location
        if not location.judged:
            photo.unknown = photo.unknown.model_copy(update={"is_unknown": True})
    status = answer_status([location for _, location in sides])
    verdict.status = status
    if status != "ok":
        verdict.unknown = verdict.unknown.model_copy(update={"is_unknown": True})
    return verdict


def answer_status(locations: Sequence[PhotoLocation]) -> ClassificationStatus:
    """``ok`` when every photo sent was judged, else the first unjudged photo's problem
    (the front's before the back's): the ``status`` of a verdict, or of a search.

    Example::

        >>> off = PhotoLocation(status="whole_photo", method="off")
        >>> lost = PhotoLocation(status="no_amulet", method="localiser")
        >>> answer_status([off]), answer_status([off, lost])
        ('ok', 'no_amulet')
    """
    for location in locations:
        if location.status == "no_amulet":
            return "no_amulet"
        if location.status == "too_small":
            return "too_small"
        if location.status == "too_blurred":
            return "too_blurred"
    return "ok"
