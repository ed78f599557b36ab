"""When each candidate trains, and to how many epochs: the lifecycle's multi-fidelity schedules.

A schedule answers one question, over and over: what should the next free slot do? Start a new candidate at
some epochs (`New`), resume a finished one to a higher rung from its checkpoint (`Promote`), or nothing yet
(`None`: wait for results). It also says when a candidate is *settled*, i.e. when the strategy learns its
result: the lifecycle tells each candidate exactly once.

- `asha` / `async-hyperband` (Li et al. 2020): a candidate is promoted as soon as it is in the top 1/eta of
  the results its rung has so far; no slot ever waits for stragglers, so any parallelism stays busy. The
  strategy learns each candidate's first rung, the one every candidate reaches.
- `successive-halving` / `hyperband` (synchronous): a bracket's rung is complete before its best 1/eta go
  on; slots idle while a rung waits. Candidates are settled when they leave their bracket.
- `none` / `median-stopping`: every candidate trains to the full epochs (median stopping may cut it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from worker.nas.evaluation.fidelity import (
    hyperband_brackets,
    promote,
    rung_epochs,
    successive_halving_bracket,
)

if TYPE_CHECKING:
    from worker.nas.lifecycle import Lifecycle, Trial


@dataclass(frozen=True)
class New:
    epochs: int
    rung: int = 0


@dataclass(frozen=True)
class Promote:
    trial: Trial
    rung: int
    epochs: int


Decision = New | Promote | None


class Schedule(Protocol):
    def decide(self, lc: Lifecycle) -> Decision: ...

    def created(self, lc: Lifecycle, trial: Trial) -> None:
        """A `New` decision was carried out: `trial` is queued at the decision's rung."""

    def completed(self, lc: Lifecycle, trial: Trial) -> None:
        """`trial`'s job ended (its rung score is recorded); settle what is now final."""

    def intake_closed(self, lc: Lifecycle) -> None:
        """No new candidate will come (budget spent, space exhausted)."""

    def state(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...


class FullFidelity:
    """`none` and `median-stopping`: one job per candidate, to the recipe's epochs."""

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs = max_epochs

    def decide(self, lc: Lifecycle) -> Decision:
        return New(self.max_epochs)

    def created(self, lc: Lifecycle, trial: Trial) -> None:
        pass

    def completed(self, lc: Lifecycle, trial: Trial) -> None:
        lc.settle(trial)

    def intake_closed(self, lc: Lifecycle) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


class Asynchronous:
    """ASHA; with `hyperband`, new candidates cycle through Hyperband's brackets (each starts at a higher
    rung), in proportion to the candidates Hyperband gives each bracket."""

    def __init__(self, min_epochs: int, max_epochs: int, eta: int, hyperband: bool) -> None:
        self.rungs = rung_epochs(min_epochs, max_epochs, eta)
        self.eta = eta
        # Bracket i of Hyperband starts at rung i and gets b.n of every cycle's new candidates.
        brackets = hyperband_brackets(min_epochs, max_epochs, eta) if hyperband else []
        self.cycle = [i for i, b in enumerate(brackets) for _ in range(b.n)] or [0]
        self.started = 0  # candidates created so far: the next one's place in `cycle`

    def decide(self, lc: Lifecycle) -> Decision:
        for k in range(len(self.rungs) - 2, -1, -1):  # the highest rung first: finish what is promising
            for start in sorted(set(self.cycle)):
                if k < start:
                    continue
                group = [
                    t for t in lc.trials.values() if t.start_rung == start and len(t.rung_scores) > k - start
                ]
                if len(group) < self.eta:
                    continue
                scored = [t for t in group if t.rung_scores[k - start] is not None]
                scored.sort(key=lambda t: (-t.rung_scores[k - start], t.cid))  # type: ignore[operator]
                for t in scored[: len(group) // self.eta]:
                    # done at rung k, no job beyond it yet (a failed promotion is not tried again)
                    if len(t.rung_scores) == k - start + 1 and t.status == "done":
                        return Promote(t, k + 1, self.rungs[k + 1])
        start = self.cycle[self.started % len(self.cycle)]
        return New(self.rungs[start], start)

    def created(self, lc: Lifecycle, trial: Trial) -> None:
        self.started += 1

    def completed(self, lc: Lifecycle, trial: Trial) -> None:
        if len(trial.rung_scores) == 1 or trial.status != "done":
            lc.settle(trial)

    def intake_closed(self, lc: Lifecycle) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {"started": self.started}

    def load(self, state: dict[str, Any]) -> None:
        self.started = int(state.get("started", 0))


class Synchronous:
    """Successive halving (one bracket, repeated) or Hyperband (its brackets in turn), rung by rung."""

    def __init__(self, min_epochs: int, max_epochs: int, eta: int, hyperband: bool) -> None:
        self.eta = eta
        self.brackets = (
            hyperband_brackets(min_epochs, max_epochs, eta)
            if hyperband
            else [successive_halving_bracket(min_epochs, max_epochs, eta)]
        )
        self.index = 0  # bracket number (cycling through `brackets`)
        self.members: list[int] = []  # candidate ids alive in the bracket
        self.rung = 0  # index into the bracket's rungs that its members are at
        self.to_start: list[int] = []  # promoted to `rung`, not yet dispatched
        self.intake = True

    @property
    def bracket(self) -> Any:
        return self.brackets[self.index % len(self.brackets)]

    def decide(self, lc: Lifecycle) -> Decision:
        while True:
            b = self.bracket
            if self.rung == 0 and self.intake and len(self.members) < b.n:
                return New(b.rungs[0], _global_rung(b, 0, self.brackets))
            if self.to_start:
                t = lc.trials[self.to_start.pop(0)]
                return Promote(t, _global_rung(b, self.rung, self.brackets), b.rungs[self.rung])
            alive = [lc.trials[c] for c in self.members]
            if any(t.busy for t in alive):
                return None
            if not alive:
                return None  # the intake closed before this bracket had any candidate
            if self.rung == len(b.rungs) - 1:  # the bracket is through: the next one starts
                for t in alive:
                    lc.settle(t)
                self.index, self.members, self.rung = self.index + 1, [], 0
                continue
            keep = set(promote([(t.cid, t.fitness_at(self.rung)) for t in alive], self.eta))
            for t in alive:
                if t.cid not in keep:
                    lc.settle(t)
            self.members = [t.cid for t in alive if t.cid in keep]
            self.rung += 1
            self.to_start = list(self.members)

    def created(self, lc: Lifecycle, trial: Trial) -> None:
        self.members.append(trial.cid)

    def completed(self, lc: Lifecycle, trial: Trial) -> None:
        pass  # settled when the bracket decides

    def intake_closed(self, lc: Lifecycle) -> None:
        self.intake = False

    def state(self) -> dict[str, Any]:
        return {"index": self.index, "members": self.members, "rung": self.rung, "to_start": self.to_start}

    def load(self, state: dict[str, Any]) -> None:
        self.index = int(state.get("index", 0))
        self.members = list(state.get("members", []))
        self.rung = int(state.get("rung", 0))
        self.to_start = list(state.get("to_start", []))


def _global_rung(bracket: Any, index: int, brackets: list[Any]) -> int:
    """The rung number shown for a bracket's `index`-th rung: its place among all of the schedule's rungs."""
    longest = max(brackets, key=lambda b: len(b.rungs)).rungs
    return longest.index(bracket.rungs[index]) if bracket.rungs[index] in longest else index


def make_schedule(spec: Any) -> Schedule:
    mf, epochs = spec.multi_fidelity, spec.training.epochs
    if mf.type in ("asha", "async-hyperband"):
        return Asynchronous(mf.min_epochs, epochs, mf.eta, mf.type == "async-hyperband")
    if mf.type in ("successive-halving", "hyperband"):
        return Synchronous(mf.min_epochs, epochs, mf.eta, mf.type == "hyperband")
    return FullFidelity(epochs)
