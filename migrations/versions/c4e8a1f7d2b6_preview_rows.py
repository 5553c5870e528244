"""previews' rows in a column of their own

Revision ID: c4e8a1f7d2b6
Revises: b7d4e2a9c1f0
Create Date: 2026-12-02 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e8a1f7d2b6'
down_revision = 'b7d4e2a9c1f0'
branch_labels = None
depends_on = None

conversions = sa.table(
    'conversions',
    sa.column('id', sa.Integer()),
    sa.column('info', sa.JSON()),
    sa.column('preview_rows', sa.JSON()),
)


def moved(info, rows, upgrade):
    """info and preview_rows with each preview's rows moved out of info (or back in)."""
    previews = dict(info.get('previews') or {})
    rows = dict(rows or {})
    for sheet, preview in previews.items():
        preview = dict(preview)
        if upgrade:
            rows[sheet] = preview.pop('rows', [])
            preview['row_count'] = len(rows[sheet])
        else:
            preview['rows'] = rows.pop(sheet, [])
            preview.pop('row_count', None)
        previews[sheet] = preview
    return {**info, 'previews': previews}, rows


def move_rows(upgrade, batch=50):
    """A batch at a time: a wide sheet's previews are megabytes."""
    connection = op.get_bind()
    ids = connection.execute(sa.select(conversions.c.id).order_by(conversions.c.id)).scalars().all()
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        move_chunk(connection, chunk, upgrade)


def move_chunk(connection, ids, upgrade):
    found = connection.execute(
        sa.select(conversions.c.id, conversions.c.info, conversions.c.preview_rows)
        .where(conversions.c.id.in_(ids))
    ).all()
    for id_, info, rows in found:
        if not (info or {}).get('previews'):
            continue
        info, rows = moved(info, rows, upgrade)
        connection.execute(
            conversions.update()
            .where(conversions.c.id == id_)
            .values(info=info, preview_rows=rows if upgrade else None)
        )


def upgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview_rows', sa.JSON(), nullable=True))
    move_rows(upgrade=True)


def downgrade():
    move_rows(upgrade=False)
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_column('preview_rows')
