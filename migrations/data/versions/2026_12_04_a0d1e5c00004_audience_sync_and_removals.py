"""audience snapshot checksum and destination removal tasks

Revision ID: a0d1e5c00004
Revises: 5f0f71a00003
Create Date: 2026-12-04 22:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cdp.db

revision: str = 'a0d1e5c00004'
down_revision: str | None = '5f0f71a00003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audience_membership_snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checksum', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    op.create_table('destination_removal',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('sealed_refs', sa.LargeBinary(), nullable=True),
    sa.Column('ref_count', sa.Integer(), nullable=False),
    sa.Column('erase', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', cdp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cdp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', cdp.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('destination_removal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destination_removal_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index('ix_destination_removal_status', ['status', 'destination'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('destination_removal', schema=None) as batch_op:
        batch_op.drop_index('ix_destination_removal_status')
        batch_op.drop_index(batch_op.f('ix_destination_removal_profile_id'))
    op.drop_table('destination_removal')
    with op.batch_alter_table('audience_membership_snapshot', schema=None) as batch_op:
        batch_op.drop_column('checksum')
