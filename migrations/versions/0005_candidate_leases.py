"""candidates.attempt and candidates.lease_expires_at: the training lease the sweeper checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("attempt", sa.Integer(), server_default="0", nullable=False))
    op.add_column("candidates", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_candidates_status_lease", "candidates", ["status", "lease_expires_at"])
    # Candidates left `training` by an older version hold no lease: give them one that has run out, so the
    # first sweep requeues them (stop the old workers before upgrading; docs/deployment.md).
    candidates = sa.table(
        "candidates",
        sa.column("status", sa.String()),
        sa.column("lease_expires_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        candidates.update()
        .where(candidates.c.status == "training")
        .values(lease_expires_at=sa.func.current_timestamp())
    )


def downgrade() -> None:
    # As in 0004: SQLite 3.35+ and PostgreSQL drop columns in place; older SQLite would rebuild
    # `candidates`, whose DROP cascades to curve points and artefacts, so it is refused there on data.
    bind = op.get_bind()
    op.drop_index("ix_candidates_status_lease", table_name="candidates")
    recreate = "auto"
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0):
        recreate = "never"
    elif bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        if (
            bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
            and bind.exec_driver_sql("SELECT count(*) FROM candidates").scalar()
        ):
            raise RuntimeError("downgrading 0005 needs SQLite >= 3.35 or foreign keys off")
    with op.batch_alter_table("candidates", recreate=recreate) as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("attempt")
