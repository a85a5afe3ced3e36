"""notifications and last visit

- notifications: the emails a user is owed (a puzzle live or revealed, a mentor's comment or
  override), unique per (user, kind, ref) so that queueing is idempotent; sent by a worker.
- users.notify_live / notify_reveal / notify_feedback (opt-in, off by default) and
  users.last_seen_index_at ("new since your last visit").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:35:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('queued','sent','failed')", name=op.f('ck_notifications_status')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('user_id', 'kind', 'ref', name=op.f('uq_notifications_user_id_kind_ref'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_user_id'), ['user_id'], unique=False)

    # Plain ADD COLUMNs: a batch would rebuild `users` on SQLite and drop the expression index
    # uq_users_username_lower, which SQLite cannot reflect.
    for name in ('notify_live', 'notify_reveal', 'notify_feedback'):
        op.add_column('users', sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('last_seen_index_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_seen_index_at')
        batch_op.drop_column('notify_feedback')
        batch_op.drop_column('notify_reveal')
        batch_op.drop_column('notify_live')
    if op.get_bind().dialect.name == 'sqlite':  # the batch rebuilt the table without it
        op.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_users_username_lower ON users (lower(username))")

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_id'))

    op.drop_table('notifications')
