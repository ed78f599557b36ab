"""How much hypervolume each candidate point would add to a front (all coordinates maximised).

Two objectives (accuracy against one cost, the common case) are computed exactly and vectorised over all
candidates at once: the gain of p is the area of the box [reference, p] minus the part of it the front
already covers, i.e. box area minus the hypervolume of the front clipped to p. More objectives fall back
to moocore through `objectives.hypervolume`, one candidate at a time.
"""

from __future__ import annotations

import numpy as np

from worker.nas.objectives import hypervolume


def hv2d_batched(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hypervolume of each set points[c] (shape C x F x 2) above `reference`."""
    clipped = np.maximum(points, reference)
    order = np.argsort(-clipped[:, :, 0], axis=1, kind="stable")
    pts = np.take_along_axis(clipped, order[:, :, None], axis=1)
    x, y = pts[:, :, 0], pts[:, :, 1]
    next_x = np.concatenate([x[:, 1:], np.full((len(x), 1), reference[0])], axis=1)
    best_y = np.maximum.accumulate(y, axis=1)  # highest y among points with x at least this large
    return ((x - next_x) * (best_y - reference[1])).sum(axis=1)


def gains(front: np.ndarray, candidates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hypervolume added by each candidate row to `front` (F x k), bounded below by `reference`."""
    if len(candidates) == 0:
        return np.zeros(0)
    if candidates.shape[1] == 2:
        box = np.prod(np.clip(candidates - reference, 0.0, None), axis=1)
        if len(front) == 0:
            return box
        clipped = np.minimum(front[None, :, :], candidates[:, None, :])
        return np.clip(box - hv2d_batched(clipped, reference), 0.0, None)
    base = hypervolume(front, reference) if len(front) else 0.0
    return np.array([hypervolume(np.vstack([front, c[None]]), reference) - base for c in candidates])
