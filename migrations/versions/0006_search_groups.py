"""search_groups, and searches.group_id: the searches one spec with `repeats: k` runs under k seeds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 05:40:00
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("searches", sa.Column("group_id", sa.Integer(), nullable=True))
    op.create_index("ix_searches_group_id", "searches", ["group_id"])


def downgrade() -> None:
    # As in 0004: SQLite 3.35+ and PostgreSQL drop the column in place; older SQLite rebuilds `searches`,
    # whose DROP would cascade to every candidate with foreign keys on, so it is refused there on data.
    bind = op.get_bind()
    op.drop_index("ix_searches_group_id", table_name="searches")
    recreate = "auto"
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0):
        recreate = "never"
    elif bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        if (
            bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
            and bind.exec_driver_sql("SELECT count(*) FROM searches").scalar()
        ):
            raise RuntimeError("downgrading 0006 needs SQLite >= 3.35 or foreign keys off")
    with op.batch_alter_table("searches", recreate=recreate) as batch:
        batch.drop_column("group_id")
    op.drop_table("search_groups")
