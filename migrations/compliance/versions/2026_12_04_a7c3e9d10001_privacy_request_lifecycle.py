"""privacy request lifecycle: jurisdiction, deadlines, extension, approvals, history, encrypted export

Revision ID: a7c3e9d10001
Revises: 15b1703c4d47
Create Date: 2026-12-04 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cdp.db

revision: str = "a7c3e9d10001"
down_revision: str | None = "15b1703c4d47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("jurisdiction", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="EU")
        )
        batch_op.add_column(sa.Column("ack_by", cdp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("max_due_at", cdp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("extended_to", cdp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("extension_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("extension_notified_at", cdp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rejection_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("approvals", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("history", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("export", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.alter_column("jurisdiction", server_default=None)
        batch_op.alter_column("approvals", server_default=None)
        batch_op.alter_column("history", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        for name in (
            "export", "history", "approvals", "rejection_reason", "extension_notified_at", "extension_reason",
            "extended_to", "max_due_at", "ack_by", "jurisdiction",
        ):  # fmt: skip
            batch_op.drop_column(name)
