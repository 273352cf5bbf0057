"""the checkout deadline, decided once before the first create

Revision ID: 7c2d9e4a1b3f
Revises: 4f0deac0e31f
Create Date: 2026-11-23 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import checkout.models


# revision identifiers, used by Alembic.
revision = '7c2d9e4a1b3f'
down_revision = '4f0deac0e31f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('checkout_deadline', checkout.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('checkout_deadline')
