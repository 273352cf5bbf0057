"""fulfilment outbox, the issued eSIM's ICCID and a place for fulfilment problems

Revision ID: 9a1f3c5e7b20
Revises: 7c2d9e4a1b3f
Create Date: 2026-12-05 00:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import checkout.models


# revision identifiers, used by Alembic.
revision = '9a1f3c5e7b20'
down_revision = '7c2d9e4a1b3f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', checkout.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('lease_until', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', checkout.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('done_at', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_jobs_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column(
            'fulfilment_code', existing_type=sa.String(length=64), type_=sa.String(length=255)
        )
        batch_op.add_column(sa.Column('esim_iccid', sa.String(length=22), nullable=True))
        batch_op.add_column(sa.Column('fulfilment_problem', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('fulfilment_problem')
        batch_op.drop_column('esim_iccid')
        batch_op.alter_column(
            'fulfilment_code', existing_type=sa.String(length=255), type_=sa.String(length=64)
        )

    with op.batch_alter_table('outbox_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_jobs_order_id'))
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox_jobs')
