"""candidates.told and .lifecycle: the candidate's place in the strategy's history, its rung scores

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 21:30:00

The strategy state no longer stores its history: a resumed search replays the candidates table in
this order (NULL: not told yet), so the stored state stays small at any number of results. `lifecycle`
holds what the search lifecycle keeps per candidate: its score at each rung, its first rung, the status it
last saw, and the result the strategy was told (a later rung may change the row's own figures).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("told", sa.Integer(), nullable=True))
    op.add_column("candidates", sa.Column("lifecycle", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("lifecycle")
        batch.drop_column("told")
