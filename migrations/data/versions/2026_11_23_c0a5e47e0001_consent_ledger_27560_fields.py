"""consent ledger: ISO/IEC TS 27560 fields (record id, schema version, consent type, notice hash, language,
indicated by, actor, ignored reason) and the state's record id

Existing events get one new record id per (profile, identity, purpose) subject, schema version cdp-27560/1
and actor `system`. `ignored_reason` starts empty: `cdp consent rebuild` re-derives it with the state.

Revision ID: c0a5e47e0001
Revises: de27f5bab515
Create Date: 2026-11-24 10:00:00.000000
"""
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'c0a5e47e0001'
down_revision: str | None = 'de27f5bab515'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    'consent_event',
    sa.column('id', sa.Uuid()),
    sa.column('record_id', sa.Uuid()),
    sa.column('profile_id', sa.Uuid()),
    sa.column('identity_id', sa.Uuid()),
    sa.column('purpose', sa.String()),
    sa.column('schema_version', sa.String()),
    sa.column('actor', sa.String()),
)
_states = sa.table('consent_state', sa.column('record_id', sa.Uuid()), sa.column('event_id', sa.Uuid()))


_PG_RECORD_IDS = """
UPDATE consent_event AS e SET record_id = s.rid
FROM (SELECT profile_id, identity_id, purpose, gen_random_uuid() AS rid
      FROM consent_event GROUP BY profile_id, identity_id, purpose) AS s
WHERE e.profile_id = s.profile_id AND e.identity_id IS NOT DISTINCT FROM s.identity_id AND e.purpose = s.purpose
"""


def _backfill() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute(_PG_RECORD_IDS)  # set-based, and renders in offline (--sql) mode
    else:
        _record_ids_one_subject_at_a_time()
    op.execute(
        sa.update(_states).values(
            record_id=sa.select(_events.c.record_id).where(_events.c.id == _states.c.event_id).scalar_subquery()
        )
    )


def _record_ids_one_subject_at_a_time() -> None:
    bind = op.get_bind()
    subjects = bind.execute(
        sa.select(_events.c.profile_id, _events.c.identity_id, _events.c.purpose).distinct()
    ).all()
    for profile_id, identity_id, purpose in subjects:
        same_identity = (
            _events.c.identity_id.is_(None) if identity_id is None else _events.c.identity_id == identity_id
        )
        bind.execute(
            sa.update(_events)
            .where(_events.c.profile_id == profile_id, same_identity, _events.c.purpose == purpose)
            .values(record_id=uuid.uuid4())
        )


_PLACEHOLDER = sa.text("'00000000000000000000000000000000'")  # replaced by the backfill below


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): on SQLite a rebuild of consent_event would DROP a table that
    # consent_state rows reference, which foreign_keys=ON refuses. NOT NULL columns get server defaults so
    # that SQLite accepts them; the model always sets them.
    sqlite = op.get_context().dialect.name == 'sqlite'
    string = sqlmodel.sql.sqltypes.AutoString
    op.add_column('consent_event', sa.Column('record_id', sa.Uuid(), nullable=not sqlite, server_default=_PLACEHOLDER if sqlite else None))
    op.add_column('consent_event', sa.Column('schema_version', string(length=32), nullable=False, server_default='cdp-27560/1'))
    op.add_column('consent_event', sa.Column('consent_type', string(length=32), nullable=True))
    op.add_column('consent_event', sa.Column('notice_sha256', string(length=64), nullable=True))
    op.add_column('consent_event', sa.Column('language', string(length=16), nullable=True))
    op.add_column('consent_event', sa.Column('indicated_by', string(length=16), nullable=True))
    op.add_column('consent_event', sa.Column('actor', string(length=64), nullable=False, server_default='system'))
    op.add_column('consent_event', sa.Column('ignored_reason', string(length=64), nullable=True))
    op.add_column('consent_state', sa.Column('record_id', sa.Uuid(), nullable=not sqlite, server_default=_PLACEHOLDER if sqlite else None))

    _backfill()

    if not sqlite:
        op.alter_column('consent_event', 'record_id', existing_type=sa.Uuid(), nullable=False)
        op.alter_column('consent_state', 'record_id', existing_type=sa.Uuid(), nullable=False)
    op.create_index(op.f('ix_consent_event_record_id'), 'consent_event', ['record_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_consent_event_record_id'), table_name='consent_event')
    op.drop_column('consent_state', 'record_id')
    for column in ('ignored_reason', 'actor', 'indicated_by', 'language', 'notice_sha256', 'consent_type',
                   'schema_version', 'record_id'):
        op.drop_column('consent_event', column)
