"""strategy state in its own table, off the searches row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:20:00

SQLite keeps a row's columns in one record, so the multi-megabyte state stored before `seq`/`next_seq`
made every read of those columns walk its overflow pages and every counter bump rewrite it.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _recreate_mode() -> str:
    """How batch mode drops the column. SQLite 3.35+ drops it in place (ALTER TABLE ... DROP COLUMN, which
    rewrites each row without it). Older SQLite must rebuild `searches` (copy, DROP, rename), and with
    foreign keys on that DROP would cascade-delete every candidate, so there it runs only on an empty table
    or with foreign keys off."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return "auto"
    if sqlite3.sqlite_version_info >= (3, 35, 0):
        return "never"
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")  # takes effect only outside a transaction
    fk_on = bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
    if fk_on and bind.exec_driver_sql("SELECT count(*) FROM searches").scalar():
        raise RuntimeError(
            f"migration 0002 needs SQLite >= 3.35 (this is {sqlite3.sqlite_version}) or foreign keys off: "
            "rebuilding `searches` with them on would delete every candidate"
        )
    return "auto"


def upgrade() -> None:
    op.create_table(
        "strategy_states",
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("search_id"),
    )
    op.execute(
        "INSERT INTO strategy_states (search_id, state, updated_at) "
        "SELECT id, strategy_state, COALESCE(finished_at, started_at, created_at) FROM searches "
        "WHERE strategy_state IS NOT NULL"
    )
    with op.batch_alter_table("searches", schema=None, recreate=_recreate_mode()) as batch_op:
        batch_op.drop_column("strategy_state")


def downgrade() -> None:
    # Adding a nullable column and dropping the child table need no rebuild of `searches` on SQLite.
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strategy_state", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE searches SET strategy_state = "
        "(SELECT state FROM strategy_states WHERE strategy_states.search_id = searches.id)"
    )
    op.drop_table("strategy_states")
