"""repair schema drift: databases made by an earlier 0001, and user_totals.points as Double

Revision 0001 was edited in place while it was young (tables, columns and indexes added), so
a database created by an earlier edition of it is stamped 0001 yet lacks them, and the app
answered 500s on it. This revision brings any such database to the landed 0001 (each repair
is conditional: on a database made by the landed 0001 it does nothing), then fixes the one
difference `manage.py db check` reported: user_totals.points is a Double like every other
points column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:00:00
"""
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _inspect():
    return sa.inspect(op.get_bind())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in _inspect().get_columns(table)}


def _indexes(table: str) -> set[str]:
    return {i["name"] for i in _inspect().get_indexes(table)}


def _missing_tables() -> None:
    tables = set(_inspect().get_table_names())
    if 'rate_counters' not in tables:
        op.create_table('rate_counters',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('key', sa.String(length=200), nullable=False),
            sa.Column('window_start', sa.DateTime(), nullable=False),
            sa.Column('count', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_counters')),
            sa.UniqueConstraint('key', 'window_start', name=op.f('uq_rate_counters_key_window_start')))
    if 'posts' not in tables:
        op.create_table('posts',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('puzzle_id', sa.Integer(), nullable=False),
            sa.Column('user_id', sa.Integer(), nullable=False),
            sa.Column('body_md', sa.Text(), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('hidden', sa.Boolean(), nullable=False),
            sa.Column('hidden_by', sa.Integer(), nullable=True),
            sa.Column('hidden_at', sa.DateTime(), nullable=True),
            sa.Column('hidden_reason', sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(['hidden_by'], ['users.id'], name=op.f('fk_posts_hidden_by_users')),
            sa.ForeignKeyConstraint(['puzzle_id'], ['puzzles.id'], name=op.f('fk_posts_puzzle_id_puzzles')),
            sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_posts_user_id_users')),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_posts')))
        with op.batch_alter_table('posts', schema=None) as batch_op:
            batch_op.create_index('ix_posts_puzzle_created', ['puzzle_id', 'created_at'], unique=False)
    if 'user_totals' not in tables:
        op.create_table('user_totals',
            sa.Column('user_id', sa.Integer(), nullable=False),
            sa.Column('points', sa.Float(), nullable=False),
            sa.Column('reached_at', sa.DateTime(), nullable=False),
            sa.Column('solved', sa.Integer(), nullable=False),
            sa.Column('answered', sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_totals_user_id_users')),
            sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_totals')))
        # The totals the app kept in this table were summed from scores; start from them
        # (`manage.py grades verify --repair` rebuilds everything from the attempt log).
        op.execute("INSERT INTO user_totals (user_id, points, reached_at, solved, answered) "
                   "SELECT user_id, SUM(points), MAX(reached_at), "
                   "SUM(CASE WHEN solved THEN 1 ELSE 0 END), COUNT(*) FROM scores GROUP BY user_id")


def _missing_columns() -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if 'expires_at' not in _columns('api_tokens'):
        with op.batch_alter_table('api_tokens', schema=None) as batch_op:
            batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    if 'enqueued_at' not in _columns('jobs'):
        with op.batch_alter_table('jobs', schema=None) as batch_op:
            batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(), nullable=True))
    sub_cols = _columns('submissions')
    if 'override_points' not in sub_cols:
        with op.batch_alter_table('submissions', schema=None) as batch_op:
            batch_op.add_column(sa.Column('override_points', sa.Double(), nullable=True))
            batch_op.add_column(sa.Column('override_reason', sa.Text(), nullable=True))
            batch_op.add_column(sa.Column('overridden_by', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f('fk_submissions_overridden_by_users'), 'users',
                                        ['overridden_by'], ['id'])
    if 'origin' not in _columns('puzzles'):
        with op.batch_alter_table('puzzles', schema=None) as batch_op:
            batch_op.add_column(sa.Column('origin', sa.String(length=8), nullable=False,
                                          server_default='files'))
            batch_op.add_column(sa.Column('created_by', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f('fk_puzzles_created_by_users'), 'users', ['created_by'], ['id'])
        with op.batch_alter_table('puzzles', schema=None) as batch_op:
            batch_op.alter_column('origin', server_default=None)
    if 'joined_at' not in _columns('cohort_members'):
        with op.batch_alter_table('cohort_members', schema=None) as batch_op:
            batch_op.add_column(sa.Column('joined_at', sa.DateTime(), nullable=True))
        op.get_bind().execute(sa.text("UPDATE cohort_members SET joined_at = :now"), {"now": now})
        with op.batch_alter_table('cohort_members', schema=None) as batch_op:
            batch_op.alter_column('joined_at', existing_type=sa.DateTime(), nullable=False)
    if 'invite_code' not in _columns('cohorts'):
        with op.batch_alter_table('cohorts', schema=None) as batch_op:
            batch_op.add_column(sa.Column('invite_code', sa.String(length=32), nullable=True))
            batch_op.add_column(sa.Column('created_by', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f('fk_cohorts_created_by_users'), 'users', ['created_by'], ['id'])
        bind = op.get_bind()
        for (cohort_id,) in bind.execute(sa.text("SELECT id FROM cohorts")).all():
            bind.execute(sa.text("UPDATE cohorts SET invite_code = :code WHERE id = :id"),
                         {"code": secrets.token_urlsafe(12), "id": cohort_id})
        with op.batch_alter_table('cohorts', schema=None) as batch_op:
            batch_op.alter_column('invite_code', existing_type=sa.String(length=32), nullable=False)
            batch_op.create_unique_constraint(op.f('uq_cohorts_invite_code'), ['invite_code'])


def _score_indexes() -> None:
    present = _indexes('scores')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        for old in ('ix_scores_puzzle_user', 'ix_scores_user_id'):
            if old in present:
                batch_op.drop_index(old)
        if 'ix_scores_puzzle_cover' not in present:
            batch_op.create_index('ix_scores_puzzle_cover',
                                  ['puzzle_id', 'user_id', 'points', 'reached_at', 'solved'], unique=False)
        if 'ix_scores_user_cover' not in present:
            batch_op.create_index('ix_scores_user_cover', ['user_id', 'points', 'reached_at', 'solved'],
                                  unique=False)


def upgrade():
    _missing_tables()
    _missing_columns()
    _score_indexes()
    with op.batch_alter_table('user_totals', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Float(), type_=sa.Double(), existing_nullable=False)


def downgrade():
    # The repairs bring a database to the landed 0001, which has all of them: nothing to undo.
    with op.batch_alter_table('user_totals', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Double(), type_=sa.Float(), existing_nullable=False)
