"""SQLAlchemy 2 typed models. The schema itself is created only by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SEARCH_STATUSES = ("queued", "running", "paused", "completed", "failed", "cancelled")
# infeasible: breaks a hard constraint (before training for params/FLOPs, after measuring for latency)
CANDIDATE_STATUSES = ("queued", "training", "done", "failed", "infeasible", "cancelled")
TERMINAL_SEARCH = frozenset({"completed", "failed", "cancelled"})
TERMINAL_CANDIDATE = frozenset({"done", "failed", "infeasible", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Search(Base):
    __tablename__ = "searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Final training / export results and the budget's stop reason, written when the search ends.
    summary: Mapped[dict[str, Any] | None]
    best_candidate_id: Mapped[int | None] = mapped_column(Integer)
    # `seq` is the change-cursor value of this row's last change; `next_seq` the search's counter.
    seq: Mapped[int] = mapped_column(Integer, default=1)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)
    # Name of the API token that submitted it; None when authentication was off.
    created_by: Mapped[str | None] = mapped_column(String(100))
    # The group of a spec with `repeats: k` (the same search under k seeds); None for a lone search. No
    # foreign key, like best_candidate_id: a group outlives the deletion of some of its members.
    group_id: Mapped[int | None] = mapped_column(Integer, index=True)

    candidates: Mapped[list[Candidate]] = relationship(
        back_populates="search", cascade="all, delete-orphan", passive_deletes=True
    )
    # Loaded only when `strategy_state` is read; the row lives in its own table (see StrategyState).
    state_row: Mapped[StrategyState | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
    )

    @property
    def strategy_state(self) -> dict[str, Any] | None:
        """The strategy's saved state (one extra query on first read); written by save_strategy_state."""
        return self.state_row.state if self.state_row is not None else None


class SearchGroup(Base):
    """Searches submitted together by `repeats: k`: the spec as submitted (its base seed and k)."""

    __tablename__ = "search_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class StrategyState(Base):
    """A search's lifecycle state: the strategy's RNG and parameters, the schedule's cursor, a version.
    No history (that is the candidates table), so it stays a few KB at any number of results.
    Kept off the `searches` row so that reading or bumping that row's small columns never touches it
    (SQLite keeps a row's columns in one record: a big value before `seq` made every counter read walk it)."""

    __tablename__ = "strategy_states"

    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("search_id", "canonical", name="uq_candidates_search_canonical"),
        Index("ix_candidates_search_seq", "search_id", "seq"),
        Index("ix_candidates_search_status", "search_id", "status"),
        # The sweeper's query: training candidates whose lease ran out.
        Index("ix_candidates_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    genome: Mapped[dict[str, Any]]
    canonical: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    fitness: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[dict[str, Any] | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    rung: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int | None] = mapped_column(Integer)
    # Place in the strategy's history (it is replayed from this table in this order); None: not told yet.
    told: Mapped[int | None] = mapped_column(Integer)
    # The lifecycle's own record (worker.nas.lifecycle.Trial.record): rung scores, first rung, told result,
    # and while a promotion is pending the result it falls back to (`kept`).
    lifecycle: Mapped[dict[str, Any] | None]
    # The training lease (worker.sweeper): each start of training is a new `attempt` and holds the lease
    # until `lease_expires_at`, renewed by its epoch reports and heartbeat; once it expires the candidate is
    # requeued, and reports of an older attempt are refused. None: not leased (queued, finished, local).
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None]

    search: Mapped[Search] = relationship(back_populates="candidates")
    curve: Mapped[list[CurvePoint]] = relationship(
        order_by="CurvePoint.epoch", cascade="all, delete-orphan", passive_deletes=True
    )
    artefacts: Mapped[list[Artefact]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class CurvePoint(Base):
    __tablename__ = "curve_points"
    __table_args__ = (UniqueConstraint("candidate_id", "epoch", name="uq_curve_points_candidate_epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]]


class Artefact(Base):
    __tablename__ = "artefacts"
    __table_args__ = (UniqueConstraint("candidate_id", "format", name="uq_artefacts_candidate_format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """An API token: only its SHA-256 is kept, so a leaked database does not leak usable tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class BenchmarkRun(Base):
    """One stored `nasboard bench tabular` run (backend/api/benchmark_schemas.BenchmarkRunIn). `summary`
    holds what the list shows, so listing never reads the documents with their curves."""

    __tablename__ = "benchmark_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(100))
    table_file: Mapped[str] = mapped_column(String(200))
    summary: Mapped[dict[str, Any]]
    document: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))
