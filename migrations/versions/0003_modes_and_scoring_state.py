"""question modes, truth by params, scoring state with reveal and tie-break times

- questions.mode: forecast (numeric questions) or challenge (choice and text).
- puzzles.scored_at: when the puzzle's forecasts were scored after the reveal (set here for
  puzzles already revealed, whose attempts were graded at once under the old rules).
- figures.params_key and artifacts.params_key: a figure's truth is its latest artifact for
  its current recipe and params.
- submissions.override_correct: an override sets points and correctness together.
- scores.answered_at, scores.reached_at nullable: the tie-break ignores questions that never
  raised the total.
- jobs.status 'superseded'; a counters table for the scoreboard generation.

After upgrading, `python manage.py grades verify --repair` re-derives the scoring state
under the new rules (forecasts of unrevealed puzzles stop counting until their reveal).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:30:00
"""
import hashlib
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def params_key(recipe: str, params: dict) -> str:
    """Frozen copy of grading.truth.params_key (migrations never import the app)."""
    blob = json.dumps([recipe, params or {}], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _backfill_params_keys() -> None:
    bind = op.get_bind()
    figures = {}
    for fid, puzzle_id, key, recipe, params in bind.execute(
            sa.text("SELECT id, puzzle_id, key, recipe, params FROM figures")).all():
        params = json.loads(params) if isinstance(params, str) else params
        figures[(puzzle_id, key)] = params_key(recipe, params)
        bind.execute(sa.text("UPDATE figures SET params_key = :k WHERE id = :id"),
                     {"k": figures[(puzzle_id, key)], "id": fid})
    jobs = {}
    for jid, params in bind.execute(sa.text("SELECT id, params FROM jobs")).all():
        params = json.loads(params) if isinstance(params, str) else params
        if isinstance(params, dict) and "recipe" in params:
            jobs[jid] = params_key(params["recipe"], params.get("params") or {})
    for aid, puzzle_id, key, job_id in bind.execute(
            sa.text("SELECT id, puzzle_id, figure_key, job_id FROM artifacts")).all():
        # An artifact made by a job was computed for that job's params; one stored another
        # way stays the truth of its figure, as it was under the old rule.
        k = jobs.get(job_id) or figures.get((puzzle_id, key), "")
        bind.execute(sa.text("UPDATE artifacts SET params_key = :k WHERE id = :id"), {"k": k, "id": aid})


def upgrade():
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.create_table('counters',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_counters')))
    op.execute("INSERT INTO counters (name, value) VALUES ('scoreboard', 0)")

    with op.batch_alter_table('puzzles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scored_at', sa.DateTime(), nullable=True))
    op.get_bind().execute(sa.text("UPDATE puzzles SET scored_at = reveal_at WHERE reveal_at <= :now"),
                          {"now": now})

    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mode', sa.String(length=16), nullable=False,
                                      server_default='forecast'))
    op.execute("UPDATE questions SET mode = 'challenge' WHERE kind IN ('choice', 'text')")
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.alter_column('mode', existing_type=sa.String(length=16), server_default=None)
        batch_op.create_check_constraint(op.f('ck_questions_mode'), "mode IN ('forecast','challenge')")

    with op.batch_alter_table('figures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params_key', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params_key', sa.String(length=64), nullable=False, server_default=''))
    _backfill_params_keys()
    with op.batch_alter_table('figures', schema=None) as batch_op:
        batch_op.alter_column('params_key', existing_type=sa.String(length=64), server_default=None)
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.alter_column('params_key', existing_type=sa.String(length=64), server_default=None)
        batch_op.create_index('ix_artifacts_truth', ['puzzle_id', 'figure_key', 'params_key', 'version'],
                              unique=False)

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('override_correct', sa.Boolean(), nullable=True))
    op.execute("UPDATE submissions SET override_correct = (override_points >= "
               "(SELECT q.points FROM questions q WHERE q.id = submissions.question_id)) "
               "WHERE override_points IS NOT NULL")

    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE scores SET answered_at = reached_at")
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.alter_column('answered_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column('reached_at', existing_type=sa.DateTime(), nullable=True)
        batch_op.drop_index('ix_scores_user_cover')
        batch_op.drop_index('ix_scores_puzzle_cover')
        batch_op.create_index('ix_scores_user_cover',
                              ['user_id', 'points', 'reached_at', 'answered_at', 'solved'], unique=False)
        batch_op.create_index('ix_scores_puzzle_cover',
                              ['puzzle_id', 'user_id', 'points', 'reached_at', 'answered_at', 'solved'],
                              unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_jobs_status'), "status IN ('queued','running','succeeded','failed','superseded')")


def downgrade():
    op.execute("UPDATE jobs SET status = 'failed' WHERE status = 'superseded'")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_status'),
                                         "status IN ('queued','running','succeeded','failed')")
    op.execute("UPDATE scores SET reached_at = answered_at WHERE reached_at IS NULL")
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_puzzle_cover')
        batch_op.drop_index('ix_scores_user_cover')
        batch_op.create_index('ix_scores_puzzle_cover', ['puzzle_id', 'user_id', 'points', 'reached_at', 'solved'],
                              unique=False)
        batch_op.create_index('ix_scores_user_cover', ['user_id', 'points', 'reached_at', 'solved'], unique=False)
        batch_op.alter_column('reached_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.drop_column('answered_at')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('override_correct')
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_index('ix_artifacts_truth')
        batch_op.drop_column('params_key')
    with op.batch_alter_table('figures', schema=None) as batch_op:
        batch_op.drop_column('params_key')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_questions_mode'), type_='check')
        batch_op.drop_column('mode')
    with op.batch_alter_table('puzzles', schema=None) as batch_op:
        batch_op.drop_column('scored_at')
    op.drop_table('counters')
