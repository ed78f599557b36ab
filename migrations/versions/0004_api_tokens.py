"""api_tokens, and searches.created_by (the token name that submitted each search)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.add_column("searches", sa.Column("created_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ and PostgreSQL drop the column in place. Older SQLite rebuilds `searches`, whose DROP
    # would cascade-delete every candidate with foreign keys on: allowed there only on an empty table.
    bind = op.get_bind()
    recreate = "auto"
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0):
        recreate = "never"
    elif bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")  # takes effect only outside a transaction
        if (
            bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
            and bind.exec_driver_sql("SELECT count(*) FROM searches").scalar()
        ):
            raise RuntimeError("downgrading 0004 needs SQLite >= 3.35 or foreign keys off")
    with op.batch_alter_table("searches", recreate=recreate) as batch:
        batch.drop_column("created_by")
    op.drop_table("api_tokens")
