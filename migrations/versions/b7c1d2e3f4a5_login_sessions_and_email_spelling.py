"""login sessions; one spelling per email address

Revision ID: b7c1d2e3f4a5
Revises: e1c27a32b413
Create Date: 2026-12-02 04:40:00

Existing sign-ins end with this revision (cookies now carry a per-session token).
Addresses are rewritten in their normalised spelling (NFKC, case-folded, IDNA domain);
an address whose normalised spelling another account already has is left as it is
(and logged), since merging two accounts is a decision for a person.
"""
import logging
import unicodedata

import idna
import sqlalchemy as sa
from alembic import op

revision = 'b7c1d2e3f4a5'
down_revision = 'e1c27a32b413'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def normalise_email(email):
    # A copy of app.models.normalise_email as it was when this revision was written.
    email = unicodedata.normalize("NFKC", (email or "").strip())
    email = unicodedata.normalize("NFKC", email.casefold())
    local, at, domain = email.rpartition("@")
    if not at or not domain:
        return email
    try:
        domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        pass
    return f"{local}@{domain}"


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)

    bind = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('email', sa.String))
    rows = bind.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        spelled = normalise_email(email)
        if spelled == email:
            continue
        if spelled in taken:
            log.warning("Left %r as it is: another account already uses %r", email, spelled)
            continue
        bind.execute(users.update().where(users.c.id == user_id).values(email=spelled))
        taken.discard(email)
        taken.add(spelled)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
