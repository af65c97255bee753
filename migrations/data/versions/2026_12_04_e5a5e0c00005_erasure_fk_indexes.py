"""indexes on the consent ledger's foreign keys to identity and consent_event (erasure deletes them)

Revision ID: e5a5e0c00005
Revises: a0d1e5c00004
Create Date: 2026-12-04 22:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'e5a5e0c00005'
down_revision: str | None = 'a0d1e5c00004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_consent_event_identity_id'), 'consent_event', ['identity_id'], unique=False)
    op.create_index(op.f('ix_consent_state_identity_id'), 'consent_state', ['identity_id'], unique=False)
    op.create_index(op.f('ix_consent_state_event_id'), 'consent_state', ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_consent_state_event_id'), table_name='consent_state')
    op.drop_index(op.f('ix_consent_state_identity_id'), table_name='consent_state')
    op.drop_index(op.f('ix_consent_event_identity_id'), table_name='consent_event')
