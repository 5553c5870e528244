"""batches: files uploaded together

Revision ID: edf44d271e4a
Revises: 8a94fbe05b2b
Create Date: 2026-12-07 23:41:12.455240

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'edf44d271e4a'
down_revision = '8a94fbe05b2b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('session_key', sa.String(length=64), nullable=True),
    sa.Column('refused', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_public_id'), ['public_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_batches_session_key'), ['session_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_batches_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversions_batch_id'), ['batch_id'], unique=False)
        batch_op.create_foreign_key('fk_conversions_batch_id', 'batches', ['batch_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_conversions_batch_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_conversions_batch_id'))
        batch_op.drop_column('batch_id')

    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_user_id'))
        batch_op.drop_index(batch_op.f('ix_batches_session_key'))
        batch_op.drop_index(batch_op.f('ix_batches_public_id'))

    op.drop_table('batches')
