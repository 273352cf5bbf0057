"""indexes for the staff list's keyset pages and the dashboard's paid days

Revision ID: c4e6a8b0d2f4
Revises: b3d5e7f9a1c2
Create Date: 2026-12-05 01:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e6a8b0d2f4'
down_revision = 'b3d5e7f9a1c2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_payments_amount_id', ['amount', 'id'], unique=False)
        batch_op.create_index('ix_payments_completed', ['completed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_completed')
        batch_op.drop_index('ix_payments_amount_id')
        batch_op.drop_index('ix_payments_created_id')
