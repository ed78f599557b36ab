"""Decision importance: which of a space's design decisions explain the fitness, fANOVA-style.

A random forest is fitted on the finished candidates' decisions (`SearchSpace.decision_features`); each
tree is a piecewise-constant function over the product of every decision's observed values. For that
finite domain with the uniform distribution the functional ANOVA is exact (Hutter et al., ICML 2014):
a leaf is a box (an allowed subset of values per decision), so the mean, the total variance and each
decision's marginal `E[f | decision = v]` are sums over leaves weighted by the boxes' volumes. A decision's
importance is the variance of its marginal over its values divided by the total variance, averaged over
the trees; the remainder (1 - sum) is what interactions explain. Best and worst choice are the values
with the highest and lowest marginal (fitness is maximised).

A space whose decisions can be idle (`maps_effective_features`: an NAS-Bench-201 edge that no
input-output path uses) gets the forest fitted on what the network computes instead, read over every
combination of the raw choices (`_effective_importance`): fewer candidates then tell the decisions apart.

Pure engine code: imports nothing from the service. scikit-learn is imported on first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from worker.nas.spaces.base import DecisionValue
from worker.nas.types import Genome

MIN_CANDIDATES = 10  # below this a forest of a few leaves says more about noise than about decisions
METHOD = "fANOVA: first-order marginal variance / total variance of a random forest (uniform over choices)"
EFFECTIVE_METHOD = (
    "fANOVA: first-order marginal variance / total variance of a random forest fitted on what each decision "
    "computes (an edge no path uses counts as none), read over every combination of choices"
)
N_TREES = 64
GRID_POINTS = 20_000  # points of the decisions' product domain a forest on effective decisions is read at
Rows = list[dict[str, DecisionValue]]  # each candidate's decisions by name


class UnsupportedSpace(ValueError):
    """The space does not name its decisions."""


class NotEnoughData(ValueError):
    """Too few candidates, or nothing varies: no importance can be told."""


@dataclass(frozen=True)
class DecisionImportance:
    decision: str
    importance: float  # share of the fitness variance this decision explains alone, in [0, 1]
    best_choice: DecisionValue | None  # None: "does not apply" (e.g. the genome has no such layer)
    worst_choice: DecisionValue | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Decision:
    name: str
    values: list[DecisionValue | None]  # the domain: every observed value, None for "absent"
    ordinal: bool  # numeric without absences: one column, split by thresholds (keeps the order)


def _sort_key(v: DecisionValue | None) -> tuple[int, Any]:
    # Mixed domains (a value or absent) must sort deterministically; absent first.
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, int | float):
        return (2, v)
    return (3, str(v))


def _features(space: Any, genomes: Sequence[Genome]) -> Rows:
    try:
        return [space.decision_features(g) for g in genomes]
    except NotImplementedError as exc:
        raise UnsupportedSpace(f"decision importance is not available for this space: {exc}") from None


def _domains(rows: Rows) -> list[_Decision]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    decisions = []
    for name in names:
        # Keyed by type too: 1, 1.0 and True are equal (and hash alike) but are different choices.
        distinct = {(type(v), v): v for v in (row.get(name) for row in rows)}
        values = sorted(distinct.values(), key=_sort_key)
        if len(values) < 2:
            continue  # never varied: explains nothing
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        decisions.append(_Decision(name, values, ordinal=numeric and len(values) > 2))
    return decisions


def _design(rows: Rows, decisions: list[_Decision]) -> tuple[np.ndarray, np.ndarray]:
    """The forest's inputs, and for each input column its value at every flat (decision, value) position:
    NaN outside the column's decision, so a split on that column leaves the other decisions unconstrained."""
    n_flat = sum(len(d.values) for d in decisions)
    columns: list[np.ndarray] = []
    colval: list[np.ndarray] = []
    start = 0
    for d in decisions:
        seen = [row.get(d.name) for row in rows]
        if d.ordinal:
            columns.append(np.array(seen, dtype=float))
            cv = np.full(n_flat, np.nan)
            cv[start : start + len(d.values)] = np.array(d.values, dtype=float)
            colval.append(cv)
        else:
            index = {(type(v), v): i for i, v in enumerate(d.values)}
            codes = np.array([index[(type(v), v)] for v in seen])
            # One indicator column per value; a two-valued decision needs only the first.
            for i in range(1 if len(d.values) == 2 else len(d.values)):
                columns.append((codes == i).astype(float))
                cv = np.full(n_flat, np.nan)
                cv[start : start + len(d.values)] = 0.0
                cv[start + i] = 1.0
                colval.append(cv)
        start += len(d.values)
    return np.column_stack(columns), np.vstack(colval)


def _leaf_boxes(tree: Any, colval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed (decision, value) positions of each leaf's box, and the leaves' predictions."""
    left, right = tree.children_left, tree.children_right
    masks = np.zeros((tree.node_count, colval.shape[1]), dtype=bool)
    masks[0] = True
    frontier = np.array([0])
    while frontier.size:  # level by level: every node of a level at once
        inner = frontier[left[frontier] != -1]
        cv = colval[tree.feature[inner]]
        t = tree.threshold[inner][:, None]
        # sklearn sends x <= t left; NaN (another decision) compares False both ways: no constraint.
        masks[left[inner]] = masks[inner] & ~(cv > t)
        masks[right[inner]] = masks[inner] & ~(cv <= t)
        frontier = np.concatenate([left[inner], right[inner]])
    leaves = np.flatnonzero(left == -1)
    return masks[leaves], tree.value[leaves, 0, 0]


def _tree_anova(
    tree: Any, colval: np.ndarray, starts: np.ndarray, sizes: np.ndarray, segment: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(first-order variance share of each decision, marginal of each flat value) of one tree."""
    boxes, y = _leaf_boxes(tree, colval)
    share = np.add.reduceat(boxes, starts, axis=1) / sizes  # each leaf's fraction of each decision
    volume = share.prod(axis=1)  # the leaves partition the domain: volumes sum to 1
    mean = float(volume @ y)
    total = float(volume @ (y - mean) ** 2)
    if total <= 1e-12 * max(1.0, mean * mean):
        return None  # a constant tree explains nothing
    # E[f | decision j = v] = sum over leaves allowing v of y * volume of the box without decision j.
    rest = (volume * y)[:, None] / share
    marginal = (rest[:, segment] * boxes).sum(axis=0)
    deviation = (marginal - mean) ** 2
    first_order = np.add.reduceat(deviation, starts) / sizes
    return first_order / total, marginal


def importance_method(space: Any) -> str:
    """How `decision_importance` works for this space, in one line for the API."""
    return EFFECTIVE_METHOD if space.maps_effective_features else METHOD


def decision_importance(
    space: Any, scored: Sequence[tuple[Genome, float]], *, n_trees: int = N_TREES, seed: int = 0
) -> list[DecisionImportance]:
    """Importance of each decision that varies among `scored` (genome, fitness) pairs, most important
    first. Raises UnsupportedSpace, or NotEnoughData (fewer than MIN_CANDIDATES finite fitnesses, or no
    variation), each with a message meant for the user."""
    from sklearn.ensemble import RandomForestRegressor

    pairs = [(g, float(f)) for g, f in scored if f is not None and math.isfinite(f)]
    if len(pairs) < MIN_CANDIDATES:
        have = len(pairs)
        raise NotEnoughData(f"needs at least {MIN_CANDIDATES} finished candidates with a fitness; has {have}")
    rows = _features(space, [g for g, _ in pairs])
    y = np.array([f for _, f in pairs])
    decisions = _domains(rows)
    if not decisions:
        raise NotEnoughData("no decision varies among the finished candidates")
    if np.ptp(y) == 0:
        raise NotEnoughData("the fitness is the same for every finished candidate")
    if space.maps_effective_features:
        return _effective_importance(space, rows, y, decisions, n_trees=n_trees, seed=seed)
    x, colval = _design(rows, decisions)
    sizes = np.array([len(d.values) for d in decisions])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    segment = np.repeat(np.arange(len(decisions)), sizes)
    # max_features < 1 decorrelates the trees, so a decision masked by a stronger one still gets splits.
    forest = RandomForestRegressor(n_estimators=n_trees, max_features=0.7, random_state=seed, n_jobs=1)
    forest.fit(x, y)
    shares, marginals = [], []
    for estimator in forest.estimators_:
        result = _tree_anova(estimator.tree_, colval, starts, sizes, segment)
        if result is not None:
            shares.append(result[0])
            marginals.append(result[1])
    if not shares:
        raise NotEnoughData("the forest found no structure in the fitness")
    share, marginal = np.mean(shares, axis=0), np.mean(marginals, axis=0)
    items = []
    for j, d in enumerate(decisions):
        m = marginal[starts[j] : starts[j] + sizes[j]]
        items.append(
            DecisionImportance(
                decision=d.name,
                importance=float(share[j]),
                best_choice=d.values[int(np.argmax(m))],
                worst_choice=d.values[int(np.argmin(m))],
            )
        )
    return sorted(items, key=lambda it: -it.importance)


def _encode(rows: Rows, decisions: list[_Decision]) -> np.ndarray:
    """The model's inputs: one indicator per value (a value it never saw sets none), numbers as they are."""
    columns: list[np.ndarray] = []
    for d in decisions:
        seen = [row.get(d.name) for row in rows]
        if d.ordinal:
            columns.append(np.array([np.nan if v is None else v for v in seen], dtype=float))
            continue
        keyed = [(type(v), v) for v in seen]
        for value in d.values:
            columns.append(np.array([k == (type(value), value) for k in keyed], dtype=float))
    return np.column_stack(columns)


def _domain_points(decisions: list[_Decision], seed: int) -> tuple[Rows, np.ndarray]:
    """Points of the product of the decisions' values (uniform): every one where there are at most
    GRID_POINTS, else a seeded random sample of them; with each point's value index per decision."""
    sizes = [len(d.values) for d in decisions]
    if math.prod(sizes) <= GRID_POINTS:
        index = np.indices(sizes).reshape(len(sizes), -1).T
    else:
        index = np.random.default_rng(seed).integers(0, sizes, size=(GRID_POINTS, len(sizes)))
    points = [
        {d.name: d.values[i] for d, i in zip(decisions, row, strict=True) if d.values[i] is not None}
        for row in index
    ]
    return points, index


def _effective_importance(
    space: Any, rows: Rows, y: np.ndarray, decisions: list[_Decision], *, n_trees: int, seed: int
) -> list[DecisionImportance]:
    """First-order shares per decision of a forest fitted on the *effective* decisions.

    Where a decision can be idle (an NAS-Bench-201 edge no path uses) the fitness depends on what the
    network computes, which a forest learns from far fewer candidates than from the raw choices (on
    NAS-Bench-201, 100 cells rank the edges right in 19 of 20 seeds instead of 9). The forest is then
    evaluated over the product of the raw decisions' values (every point, or GRID_POINTS of them at
    random), each point mapped to what it computes, and each decision's marginal is the mean prediction
    over the points with that value."""
    from sklearn.ensemble import RandomForestRegressor

    model_rows = [space.effective_features(row) for row in rows]
    model_decisions = _domains(model_rows)
    if not model_decisions:
        raise NotEnoughData("no decision changes what the finished candidates compute")
    forest = RandomForestRegressor(n_estimators=n_trees, max_features=0.7, random_state=seed, n_jobs=1)
    forest.fit(_encode(model_rows, model_decisions), y)
    points, index = _domain_points(decisions, seed)
    pred = forest.predict(_encode([space.effective_features(p) for p in points], model_decisions))
    total = float(pred.var())
    items = []
    for j, d in enumerate(decisions):
        marginal = np.array([pred[index[:, j] == i].mean() for i in range(len(d.values))])
        share = float(marginal.var() / total) if total > 1e-12 * max(1.0, float(pred.mean()) ** 2) else 0.0
        items.append(
            DecisionImportance(
                decision=d.name,
                importance=share,
                best_choice=d.values[int(np.nanargmax(marginal))],
                worst_choice=d.values[int(np.nanargmin(marginal))],
            )
        )
    return sorted(items, key=lambda it: -it.importance)
