"""gateway circuit breakers, shared by every worker

Revision ID: d7f1b3c5e9a2
Revises: c4e6a8b0d2f4
Create Date: 2026-12-05 02:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import checkout.models


# revision identifiers, used by Alembic.
revision = 'd7f1b3c5e9a2'
down_revision = 'c4e6a8b0d2f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'gateway_breakers',
        sa.Column('gateway', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('window_calls', sa.Integer(), nullable=False),
        sa.Column('window_failures', sa.Integer(), nullable=False),
        sa.Column('opened_at', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('open_until', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('probe_token', sa.String(length=64), nullable=True),
        sa.Column('probe_until', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('forced', sa.String(length=3), nullable=True),
        sa.Column('forced_reason', sa.String(length=200), nullable=True),
        sa.Column('forced_by', sa.String(length=254), nullable=True),
        sa.Column('forced_at', checkout.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('gateway')
    )


def downgrade():
    op.drop_table('gateway_breakers')
