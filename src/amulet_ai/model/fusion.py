"""Combining a front and a back photo of the same piece into one verdict.

Rule, for a pair:

* class probabilities: the two photos' calibrated log-probabilities are summed and
  renormalised (independent evidence from two views of one piece);
* unknown score: the larger of the two photos' scores, so the pair is unknown when either
  side looks like none of the known types. A piece whose back matches a known type but whose
  front does not is not that type.

Example::

    >>> import numpy as np
    >>> probs, score = fuse_pair(np.log([0.6, 0.4]), np.log([0.6, 0.4]), 3.0, 5.0)
    >>> [round(float(p), 3) for p in probs], score
    ([0.692, 0.308], 5.0)
"""

from __future__ import annotations

import numpy as np


def fuse_pair(
    front_log_probs: np.ndarray,
    back_log_probs: np.ndarray,
    front_unknown: float,
    back_unknown: float,
) -> tuple[np.ndarray, float]:
    """Fused class probabilities and unknown score of a front and back pair."""
    joint = front_log_probs + back_log_probs
    joint = joint - joint.max()
    probs = np.exp(joint)
    fused: np.ndarray = probs / probs.sum()
    return fused, max(front_unknown, back_unknown)
