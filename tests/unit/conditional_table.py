"""A small sparse, conditional benchmark table for tests: per-layer columns are empty above `depth`."""

from __future__ import annotations

import csv
import itertools
import math
import random
from pathlib import Path

LAYERS = 3
CHOICE_COLUMNS = ["width", "depth", *(f"k_{i}" for i in range(1, LAYERS + 1))]


def rows(keep: float = 0.6, seed: int = 0) -> list[dict[str, str]]:
    """A random `keep` share of every (width, depth, per-layer k) network, with closed-form figures:
    loss falls with width and with the sum of k; latency grows with both."""
    out = []
    for width, depth in itertools.product((8, 16, 32), (1, 2, 3)):
        for ks in itertools.product((1, 2, 3), repeat=depth):
            loss = 10.0 - 2.0 * math.log2(width) - 0.7 * sum(ks) - 0.1 * ks[0]
            latency = width * (1 + sum(ks)) / 8.0
            cells = [str(k) for k in ks] + [""] * (LAYERS - depth)
            row = {"width": str(width), "depth": str(depth)}
            row.update(zip(CHOICE_COLUMNS[2:], cells, strict=True))
            row.update(loss=f"{loss:.4f}", latency=f"{latency:.4f}", energy=f"{latency * width:.2f}")
            out.append(row)
    rng = random.Random(seed)
    rng.shuffle(out)
    picked = out[: int(keep * len(out))]
    for i, row in enumerate(picked):
        row["id"] = f"net{i}"
    return picked


def write(path: Path, keep: float = 0.6, seed: int = 0) -> Path:
    table = rows(keep, seed)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", *CHOICE_COLUMNS, "loss", "latency", "energy"])
        w.writeheader()
        w.writerows(table)
    return path
