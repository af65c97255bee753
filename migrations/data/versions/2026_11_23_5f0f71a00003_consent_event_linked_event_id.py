"""consent_event.linked_event_id: a soft opt-in's sale or negotiation event

Revision ID: 5f0f71a00003
Revises: e7a1d0c00002
Create Date: 2026-11-24 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5f0f71a00003'
down_revision: str | None = 'e7a1d0c00002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No foreign key to event: retention may delete timeline events the ledger must still name. Plain ADD/DROP
    # COLUMN, not a batch rebuild: on SQLite a rebuild would DROP consent_event, which consent_state rows
    # reference and foreign_keys=ON refuses (see c0a5e47e0001).
    op.add_column('consent_event', sa.Column('linked_event_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column('consent_event', 'linked_event_id')
