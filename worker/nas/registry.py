"""Name → class lookup for spaces and strategies, imported lazily so one missing extra never breaks all."""

from __future__ import annotations

import importlib
from typing import Any

SPACES: dict[str, str] = {
    "layers": "worker.nas.spaces.layers:LayersSpace",
    "nb201": "worker.nas.spaces.nb201:NB201Space",
    "categorical": "worker.nas.spaces.categorical:CategoricalSpace",
    "vit": "worker.nas.spaces.vit:ViTSpace",
    "scaled": "worker.nas.spaces.scaled:ScaledSpace",
}

STRATEGIES: dict[str, str] = {
    "random": "worker.nas.strategies.random_search:RandomSearch",
    "genetic": "worker.nas.strategies.genetic:GeneticAlgorithm",
    "regularized-evolution": "worker.nas.strategies.regularized_evolution:RegularizedEvolution",
    "nsga2": "worker.nas.strategies.nsga2:NSGA2",
    "reinforce": "worker.nas.strategies.reinforce:Reinforce",
    "predictor-evolution": "worker.nas.strategies.predictor_evolution:PredictorEvolution",
    "predictor-ranking": "worker.nas.strategies.predictor_ranking:PredictorRanking",
}


def _load(table: dict[str, str], kind: str, name: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; allowed: {', '.join(sorted(table))}")
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def space_class(name: str) -> Any:
    return _load(SPACES, "space", name)


def strategy_class(name: str) -> Any:
    return _load(STRATEGIES, "strategy", name)
