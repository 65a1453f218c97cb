"""whatsapp: handled webhook message ids, each customer's last inbound time, sent messages

Revision ID: 0004_whatsapp
Revises: 0004_chaos
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_whatsapp"
down_revision: str | None = "0004_chaos"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_seen",
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_whatsapp_seen")),
    )
    op.create_index(op.f("ix_whatsapp_seen_seen_at"), "whatsapp_seen", ["seen_at"])
    op.create_table(
        "whatsapp_contacts",
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_whatsapp_contacts")),
    )
    op.create_table(
        "whatsapp_messages",
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("template", sa.Boolean(), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wamid", name=op.f("pk_whatsapp_messages")),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_messages")
    op.drop_table("whatsapp_contacts")
    op.drop_index(op.f("ix_whatsapp_seen_seen_at"), table_name="whatsapp_seen")
    op.drop_table("whatsapp_seen")
