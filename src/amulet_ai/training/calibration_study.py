"""``calibration_study``: how noisy the CV ECE is, and which calibration lowers it.

The train command's ECE (``metrics.cv.ece``) is the top-1 ECE in 15 equal-width bins of
the out-of-fold logits of each photo's located crop (view 0 of the training views, always
located, never the photo whole), each fold's probabilities scaled by a temperature fitted
by NLL on the other folds' out-of-fold logits; the shipped ``temperature`` is fitted on all
137. This command reuses the train command's cached views, recipe and folds
(:func:`amulet_ai.training.crossval.out_of_fold`) and reports, for each calibration:

* ECE, NLL and top-1 of the located crop and of the photo as served with ``locate=auto``
  (whole when its box fills the frame, else the located crop), each photo's calibration
  fitted on the other folds only (``nested``) or, for the shipped way, on all photos;
* the ECE's 95 % interval over photos (bootstrap) and its spread over fold seeds;
* the ECE a perfectly calibrated model of the same confidences would show on 137 photos
  (labels drawn from its own probabilities): the floor the estimator cannot go below;
* heads of other L2 penalties and label smoothing (``--head L2:SMOOTHING ...``), each
  over the same fold seeds; vector and matrix scaling with ``--scaling``.

Run::

    python -m amulet_ai.training.calibration_study --data ../shared/data/amulets \\
        --localiser-dir models/
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import torch

from amulet_ai.training.calibration import (
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from amulet_ai.training.crossval import OutOfFold, Recipe, out_of_fold, stratified_folds
from amulet_ai.training.data import fingerprint, load_dataset
from amulet_ai.training.features import load_backbone
from amulet_ai.training.train import DEFAULT_LABEL_SMOOTHING, DEFAULT_VIEWS, _grey_features, _parse

logger = logging.getLogger(__name__)

AS_SERVED: Final = "photo with locate=auto as served (frame-filling photos whole)"
ALL_VIEWS: Final = "every training view"
BOOTSTRAP: Final = 2000
SCALING_L2: Final = (0.003, 0.03)

# ``fit(logits, labels) -> calibrate``, ``calibrate(logits) -> probabilities``.
Calibrate = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray], Calibrate]


def temperature_fitter(logits: np.ndarray, labels: np.ndarray) -> Calibrate:
    """One temperature by NLL (the shipped calibration)."""
    t = fit_temperature(logits, labels)
    return lambda z: softmax(z, t)


def identity_fitter(logits: np.ndarray, labels: np.ndarray) -> Calibrate:
    """No calibration (temperature 1)."""
    return lambda z: softmax(z)


def scaling_fitter(kind: str, l2: float) -> Fitter:
    """Vector (``a * z + b``) or matrix (``M z + b``) scaling by NLL, with an L2 penalty
    ``l2 * (|delta|^2 + |b|^2)`` on what departs from one free scale ``s`` (``a = s + delta``,
    ``M = s I + delta``): a strong penalty leaves temperature scaling."""

    def fit(logits: np.ndarray, labels: np.ndarray) -> Calibrate:
        c = logits.shape[1]
        z = torch.from_numpy(np.asarray(logits, np.float64))
        y = torch.from_numpy(np.asarray(labels, np.int64))
        log_s = torch.zeros((), dtype=torch.float64, requires_grad=True)
        delta = torch.zeros((c,) if kind == "vector" else (c, c), dtype=torch.float64)
        delta.requires_grad_(True)
        bias = torch.zeros(c, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [log_s, delta, bias], lr=1.0, max_iter=500, tolerance_grad=1e-10,
            line_search_fn="strong_wolfe",
        )  # fmt: skip

        def apply(x: torch.Tensor) -> torch.Tensor:
            s = log_s.exp()
            if kind == "vector":
                return x * (s + delta) + bias
            return x @ (s * torch.eye(c, dtype=torch.float64) + delta).T + bias

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(apply(z), y)
            loss = loss + l2 * ((delta**2).sum() + (bias**2).sum())
            loss.backward()
            return loss

        optimizer.step(closure)

        def calibrate(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = apply(torch.from_numpy(np.asarray(x, np.float64))).numpy()
            return softmax(out)

        return calibrate

    return fit


@dataclass(frozen=True)
class Figures:
    """Calibration figures of probabilities ``probs`` ``[photos, classes]``."""

    ece: float
    nll: float
    top1: float


def figures(probs: np.ndarray, labels: np.ndarray) -> Figures:
    nll = float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean())
    top1 = float((probs.argmax(1) == labels).mean())
    return Figures(expected_calibration_error(probs, labels), nll, top1)


def nested(
    fit_logits: np.ndarray, fit_labels: np.ndarray, fit_fold: np.ndarray,
    eval_logits: np.ndarray, fold_of: np.ndarray, fitter: Fitter,
) -> np.ndarray:  # fmt: skip
    """Probabilities of ``eval_logits``, each fold's from a calibration fitted on the other
    folds' ``fit_logits`` (rows of ``fit_fold``)."""
    return nested_many(fit_logits, fit_labels, fit_fold, [eval_logits], fold_of, fitter)[0]


def nested_many(
    fit_logits: np.ndarray, fit_labels: np.ndarray, fit_fold: np.ndarray,
    evals: list[np.ndarray], fold_of: np.ndarray, fitter: Fitter,
) -> list[np.ndarray]:  # fmt: skip
    """:func:`nested` for several ``evals`` of the same photos, one fit per fold."""
    probs = [np.zeros_like(z, dtype=np.float64) for z in evals]
    for k in np.unique(fold_of):
        calibrate = fitter(fit_logits[fit_fold != k], fit_labels[fit_fold != k])
        for out, z in zip(probs, evals, strict=True):
            out[fold_of == k] = calibrate(z[fold_of == k])
    return probs


def bootstrap_ece(
    probs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP
) -> np.ndarray:
    """ECE of ``rounds`` resamples of the photos (with replacement)."""
    n = len(labels)
    picks = rng.integers(0, n, size=(rounds, n))
    return np.array([expected_calibration_error(probs[p], labels[p]) for p in picks])


def calibrated_floor(
    probs: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP
) -> np.ndarray:
    """ECE of ``probs`` against labels drawn from ``probs`` itself: what a perfectly
    calibrated model with these confidences scores on this many photos."""
    cumulative = probs.cumsum(axis=1)
    out = []
    for _ in range(rounds):
        u = rng.random((len(probs), 1))
        drawn = np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)
        out.append(expected_calibration_error(probs, drawn))
    return np.array(out)


@dataclass(frozen=True)
class Views:
    """The train command's features of the development photos, and its recipe."""

    features: np.ndarray  # [photos, V, D]: the training views (view 0: the located crop)
    served: dict[str, np.ndarray]  # name -> [photos, k, D]
    labels: np.ndarray
    recipe: Recipe
    n_classes: int


def load_views(argv: list[str]) -> Views:
    """The train command's views of ``argv``'s data (``train`` arguments), from its cache."""
    args = _parse(["--out", "models", *argv])
    dataset = load_dataset(*args.data)
    backbone = load_backbone(args.backbone)
    if args.views is None:
        args.views = DEFAULT_VIEWS
    feats, refs, served, _, _ = _grey_features(args, backbone, dataset, fingerprint(dataset))
    spec = backbone.spec
    recipe = Recipe(
        head_levels=spec.head_levels, l2=args.l2, detector_levels=spec.detector_levels,
        detector_views=refs, level_channels=spec.level_channels,
    )  # fmt: skip
    served = {AS_SERVED: served[AS_SERVED], ALL_VIEWS: feats}
    return Views(feats, served, np.array(dataset.labels), recipe, len(dataset.classes))


def run_cv(views: Views, recipe: Recipe, seed: int, n_folds: int) -> OutOfFold:
    folds = stratified_folds(views.labels, n_folds, seed)
    return out_of_fold(
        views.features, views.labels, views.n_classes, recipe, folds, served=views.served
    )


def calibrations(scaling: bool = True) -> dict[str, Fitter]:
    """Temperature, and (``scaling``) vector and matrix scaling at two L2 penalties."""
    out: dict[str, Fitter] = {"none": identity_fitter, "temperature": temperature_fitter}
    for kind in ("vector", "matrix") if scaling else ():
        for l2 in SCALING_L2:
            out[f"{kind} scaling, L2 {l2:g}"] = scaling_fitter(kind, l2)
    return out


def fit_sets(oof: OutOfFold, labels: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """What a calibration may be fitted on: logits, labels and fold of each row."""
    views_ = oof.served_logits[ALL_VIEWS]
    n, v, c = views_.shape
    return {
        "located": (oof.logits, labels, oof.fold_of),
        "as served": (oof.served_logits[AS_SERVED][:, 0], labels, oof.fold_of),
        "all training views": (
            views_.reshape(-1, c), np.repeat(labels, v), np.repeat(oof.fold_of, v)
        ),
    }  # fmt: skip


def study(oof: OutOfFold, labels: np.ndarray, fitters: dict[str, Fitter]) -> list[dict[str, Any]]:
    """Figures of every calibration x fit set, nested, on the located crop and as served,
    and of the shipped temperature (fitted on all photos' located crops, in-sample)."""
    evals = {"located": oof.logits, "as served": oof.served_logits[AS_SERVED][:, 0]}
    rows = []
    sets = fit_sets(oof, labels)
    for name, fitter in fitters.items():
        for fit_name, (fz, fy, ff) in sets.items():
            if name == "none" and fit_name != "located":
                continue
            row: dict[str, Any] = {"calibration": name, "fitted on": fit_name}
            probs = nested_many(fz, fy, ff, list(evals.values()), oof.fold_of, fitter)
            for eval_name, p in zip(evals, probs, strict=True):
                row[eval_name] = figures(p, labels)
            rows.append(row)
    t = fit_temperature(oof.logits, labels)
    rows.append({
        "calibration": "temperature, in-sample (shipped)", "fitted on": "located, all photos",
        **{name: figures(softmax(z, t), labels) for name, z in evals.items()},
    })  # fmt: skip
    return rows


def _cell(f: Figures) -> str:
    return f"{f.ece:.3f} / {f.nll:.3f} / {f.top1:.3f}"


def _mean_row(rows: list[dict[str, Any]]) -> str:
    """``| calibration | fitted on | ECE mean (sd) / NLL / top-1 |`` x2 over seeds' rows."""
    cells = []
    for where in ("located", "as served"):
        ece = np.array([r[where].ece for r in rows])
        nll = np.mean([r[where].nll for r in rows])
        top1 = np.mean([r[where].top1 for r in rows])
        cells.append(f"{ece.mean():.3f} ({ece.std(ddof=1) if len(ece) > 1 else 0:.3f}) / "
                     f"{nll:.3f} / {top1:.3f}")  # fmt: skip
    return f"| {rows[0]['calibration']} | {rows[0]['fitted on']} | {cells[0]} | {cells[1]} |"


def _interval(values: np.ndarray) -> str:
    lo, mid, hi = np.quantile(values, [0.025, 0.5, 0.975])
    return f"{mid:.3f} [{lo:.3f}, {hi:.3f}]"


def _head(text: str) -> tuple[float, float]:
    l2, _, smoothing = text.partition(":")
    return float(l2), float(smoothing or 0.0)


def _parse_study(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="calibration_study", description=__doc__.splitlines()[0])
    parser.add_argument("--fold-seeds", type=int, default=5, help="fold seeds 0..N-1")
    parser.add_argument(
        "--head", type=_head, nargs="+", default=[(0.1, 0.0), (0.1, DEFAULT_LABEL_SMOOTHING)],
        metavar="L2[:SMOOTHING]",
        help="head L2 penalty and label smoothing of each head tried (default: model 2.0.1's "
        "head, then the train command's default); the ECE's spread is the first one's",
    )  # fmt: skip
    parser.add_argument(
        "--scaling", action="store_true", help="vector and matrix scaling too (slower)"
    )
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    """The study's tables, printed; the train arguments (``--data`` and the like) pass on."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args, train_argv = _parse_study(argv)
    started = time.monotonic()
    views = load_views(train_argv)
    labels, recipe = views.labels, views.recipe
    n_folds = _parse(["--out", "models", *train_argv]).folds
    variants = [
        (f"L2 {l2:g}, label smoothing {ls:g}", replace(recipe, l2=l2, label_smoothing=ls))
        for l2, ls in args.head
    ]
    seeds = range(args.fold_seeds)
    header = ["| calibration | fitted on | located crop | as served |", "|---|---|---|---|"]
    lines: list[str] = []
    seed_lines = [
        "## Per fold seed: temperature nested, fitted on the located crop / as served, "
        "ECE / NLL / top-1",
        "",
        "| head | fold seed | located crop (metrics.cv) | as served (fitted as served) |",
        "|---|---|---|---|",
    ]
    for name, variant in variants:
        per_seed = []
        for seed in seeds:
            oof = run_cv(views, variant, seed, n_folds)
            per_seed.append(study(oof, labels, calibrations(scaling=args.scaling)))
            t_located, t_served = per_seed[-1][1], per_seed[-1][2]
            seed_lines.append(
                f"| {name} | {seed} | {_cell(t_located['located'])} | "
                f"{_cell(t_served['as served'])} |"
            )
            logger.warning("%s", seed_lines[-1])
            if seed == 0 and name == variants[0][0]:
                lines += _spread(oof, labels)
        lines += ["", f"## Head {name}: ECE mean (sd over fold seeds {seeds.start}-"
                  f"{seeds.stop - 1}) / NLL / top-1", "", *header]  # fmt: skip
        lines += [_mean_row(list(rows)) for rows in zip(*per_seed, strict=True)]
        lines += ["", "ECE of the located crop, temperature nested, per fold seed: "
                  + ", ".join(f"{rows[1]['located'].ece:.3f}" for rows in per_seed)]  # fmt: skip
    lines += ["", *seed_lines]
    lines.append(f"\nwall time {time.monotonic() - started:.0f} s")
    print("\n".join(lines))  # noqa: T201
    return 0


def _spread(oof: OutOfFold, labels: np.ndarray) -> list[str]:
    """Bootstrap and calibrated-floor lines of the shipped metric, located and as served."""
    rng = np.random.default_rng(0)
    served = oof.served_logits[AS_SERVED][:, 0]
    lines = ["## Spread of the ECE on these photos (fold seed 0, temperature nested)", ""]
    for name, z in (("located crop (metrics.cv.ece)", oof.logits), ("as served", served)):
        probs = nested(z, labels, oof.fold_of, z, oof.fold_of, temperature_fitter)
        boot = bootstrap_ece(probs, labels, rng)
        floor = calibrated_floor(probs, rng)
        lines.append(
            f"- {name}: ECE {expected_calibration_error(probs, labels):.3f}; bootstrap over "
            f"photos sd {boot.std(ddof=1):.3f}, {_interval(boot)}; a calibrated model of these "
            f"confidences {_interval(floor)}, P(ECE <= 0.05) {(floor <= 0.05).mean():.2f}"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
