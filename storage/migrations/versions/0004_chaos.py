"""chaos: sends in doubt, and instance heartbeats for fast recovery of claims

Revision ID: 0004_chaos
Revises: 0004_refunds
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_chaos"
down_revision: str | None = "0004_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_started_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("doubts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64)))
        batch_op.create_index(batch_op.f("ix_outbox_claimed_by"), ["claimed_by"], unique=False)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64)))
        batch_op.create_index(batch_op.f("ix_payments_claimed_by"), ["claimed_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_claimed_by"))
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_claimed_by"))
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("doubts")
        batch_op.drop_column("send_started_at")
    op.drop_table("instances")
