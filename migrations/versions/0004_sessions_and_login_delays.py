"""server-side sessions, growing delays for the login ceiling

- user_sessions: one row per browser login (the cookie holds a random token, the row its
  SHA-256); logout, a password change and "log out everywhere" revoke rows, so a saved
  cookie stops working. Sessions that existed before this revision carry no token and end
  at the upgrade: everyone logs in once more.
- rate_counters.next_at / delay: the per-account login ceiling lets an attempt through only
  after next_at, doubling delay each time.
- users: a unique index on lower(username), so that two registrations at once cannot create
  "Dee" and "dee". An existing database holding such a pair stops the upgrade with their
  names (rename one with SQL, then upgrade again).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _refuse_case_duplicates() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1")).scalars().all()
    if rows:
        raise RuntimeError("usernames that differ only in case must be renamed before this upgrade: "
                           + ", ".join(sorted(rows)))


def upgrade():
    _refuse_case_duplicates()
    op.create_index('uq_users_username_lower', 'users', [sa.text('lower(username)')], unique=True)
    op.create_table('user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('user_agent', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('delay', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    op.drop_index('uq_users_username_lower', table_name='users')
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.drop_column('delay')
        batch_op.drop_column('next_at')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
