"""money columns 64-bit: 2**31 coin units (1e-8) are only 21.47 coins

Revision ID: e8a2c4f6b1d3
Revises: d7f1b3c5e9a2
Create Date: 2026-12-05 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a2c4f6b1d3'
down_revision = 'd7f1b3c5e9a2'
branch_labels = None
depends_on = None

# SQLite's INTEGER is 64-bit already (the models keep it there), so only other databases change.
MONEY_COLUMNS = [
    ('products', 'price', False),
    ('orders', 'amount', False),
    ('payments', 'amount', False),
    ('payments', 'crypto_amount', True),
    ('payments', 'refunded_amount', False),
]


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        return
    for table, column, nullable in MONEY_COLUMNS:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade():
    _retype(sa.Integer(), sa.BigInteger())


def downgrade():
    _retype(sa.BigInteger(), sa.Integer())
