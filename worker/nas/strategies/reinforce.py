"""REINFORCE controller (Williams 1992; Zoph & Le 2017): a PyTorch policy over the space's decisions.

The policy (an LSTM that reads its previous choice, or a plain table of logits fed through an MLP) gives
a categorical distribution per decision; each result moves it by the policy gradient of (reward -
baseline) with an exponential moving-average baseline and an entropy bonus. The reward is the fitness,
or its improvement over the baseline. Sampling uses a torch.Generator whose state, with the weights and
the optimizer's moments, goes into `state_dict`, so a resumed search samples exactly what an
uninterrupted one would. Duplicates are resampled, never evaluated.

torch is imported inside the methods, not at module level: the API loads this class only for its Options
and description (the form and spec validation), and an API machine has no torch installed.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from worker.nas.strategies.base import Strategy, StrategyOptions
from worker.nas.types import Genome, Result

SAMPLE_BATCH = 64  # choices drawn per forward pass: one batch serves many resamples of duplicates
# Batches tried before a collapsed policy (every sample already seen) gives way to a random new genome.
POLICY_BATCHES = 4


class ReinforceOptions(StrategyOptions):
    policy: Literal["lstm", "mlp"] = Field("lstm", description="controller network")
    hidden_size: int = Field(32, ge=4, le=1024, description="width of the controller network")
    learning_rate: float = Field(0.05, gt=0.0, le=10.0, description="Adam step size")
    baseline_decay: float = Field(0.9, ge=0.0, lt=1.0, description="moving-average factor of the baseline")
    entropy_weight: float = Field(0.01, ge=0.0, le=10.0, description="bonus for keeping choices uncertain")
    reward: Literal["fitness", "improvement"] = Field(
        "fitness",
        description="fitness: fitness minus baseline, either sign; improvement: only gains over the baseline",
    )


class Reinforce(Strategy):
    name: ClassVar[str] = "reinforce"
    Options: ClassVar[type[StrategyOptions]] = ReinforceOptions
    description: ClassVar[str] = "Policy-gradient controller (LSTM or MLP) over the space's decisions"

    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        import torch

        from worker.nas.strategies.policy import Policy

        super().__init__(*args, seed=seed, **kwargs)
        opts: ReinforceOptions = self.options  # type: ignore[assignment]
        with torch.random.fork_rng():  # seeded initial weights without touching the global torch RNG
            torch.manual_seed(seed)
            self.policy = Policy(self.space.decisions(), opts.hidden_size, opts.policy)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=opts.learning_rate)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.queue: list[list[int]] = []  # sampled choices not yet handed out
        # One row per policy update (reward, baseline, entropy): what the dashboard's controller chart draws.
        self.steps: list[dict[str, float]] = []

    def ask(self, n: int = 1) -> list[Genome]:
        return [self._one() for _ in range(n)]

    def _one(self) -> Genome:
        import torch

        from worker.nas.strategies.policy import one_thread

        for _ in range(POLICY_BATCHES):
            if not self.queue:
                with torch.no_grad(), one_thread():
                    self.queue = self.policy.sample(SAMPLE_BATCH, self.generator).tolist()
            while self.queue:
                genome = self.space.decode(self.queue.pop(0))
                if self.is_new(genome):
                    return self.claim(genome)
        return self.novel(lambda: self.space.sample(self.rng))

    def _learn(self, genome: Genome, result: Result) -> None:
        import torch

        from worker.nas.strategies.policy import one_thread

        if not result.ok:  # nothing to learn from a failure: no reward, no update
            return
        opts: ReinforceOptions = self.options  # type: ignore[assignment]
        fitness = float(result.fitness)
        if self.baseline is None:
            self.baseline = fitness
        advantage = fitness - self.baseline
        if opts.reward == "improvement":  # only genomes that beat the running average are reinforced
            advantage = max(advantage, 0.0)
        choices = torch.tensor([self.space.encode(genome)])
        with one_thread():
            logp, entropy = self.policy.log_prob(choices)
            loss = -(advantage * logp.sum() + opts.entropy_weight * entropy.sum())
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.baseline = opts.baseline_decay * self.baseline + (1 - opts.baseline_decay) * fitness
        self.steps.append(
            {
                "step": len(self.steps) + 1,
                "reward": fitness,
                "advantage": advantage,
                "baseline": self.baseline,
                "entropy": float(entropy.detach().mean()),  # mean over decisions, in nats
            }
        )
        self.queue = []  # samples from the old policy are stale

    def _extra_state(self) -> dict[str, Any]:
        from worker.nas.strategies.policy import tensors_to_json

        return {
            "policy": tensors_to_json(self.policy.state_dict()),
            "optimizer": tensors_to_json(self.optimizer.state_dict()),
            "generator": self.generator.get_state().tolist(),
            "baseline": self.baseline,
            "queue": self.queue,
            "steps": self.steps,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        import torch

        from worker.nas.strategies.policy import tensors_from_json

        if not extra:
            return
        self.policy.load_state_dict(tensors_from_json(extra["policy"]))
        self.optimizer.load_state_dict(tensors_from_json(extra["optimizer"]))
        self.generator.set_state(torch.tensor(extra["generator"], dtype=torch.uint8))
        self.baseline = extra["baseline"]
        self.queue = [list(c) for c in extra["queue"]]
        self.steps = [dict(row) for row in extra.get("steps", [])]
