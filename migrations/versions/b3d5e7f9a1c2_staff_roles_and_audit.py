"""staff roles, session versions and the audit log

Revision ID: b3d5e7f9a1c2
Revises: 9a1f3c5e7b20
Create Date: 2026-12-05 00:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import checkout.models


# revision identifiers, used by Alembic.
revision = 'b3d5e7f9a1c2'
down_revision = '9a1f3c5e7b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('role', sa.String(length=16), nullable=False, server_default='admin')
        )
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), nullable=False, server_default='0')
        )
    # Staff created before roles existed could refund: they stay admins; new ones default to
    # support in the model. The server defaults only fill the existing rows.
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.alter_column('role', server_default=None)
        batch_op.alter_column('session_version', server_default=None)

    op.create_table(
        'audit_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', checkout.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('staff_email', sa.String(length=254), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('target', sa.String(length=254), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_staff_id'), ['staff_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_staff_id'))
        batch_op.drop_index('ix_audit_at')
    op.drop_table('audit_entries')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
        batch_op.drop_column('role')
