"""explanations graded with rubrics

- questions.kind may be 'explanation'; questions.word_budget (the suggested length).
- rubric_items (per explanation question), explanation_grades (a mentor's grading of one
  version, with its claim and whether it is featured), rubric_applications (which items
  apply), reactions ("helpful" on featured explanations).
- users.feature_anonymously: a featured explanation shows its author unless they chose not.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:05:10
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rubric_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('points', sa.Double(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_rubric_items_question_id_questions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_items')),
    sa.UniqueConstraint('question_id', 'key', name=op.f('uq_rubric_items_question_id_key'))
    )
    with op.batch_alter_table('rubric_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_items_question_id'), ['question_id'], unique=False)

    op.create_table('explanation_grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('graded_by', sa.Integer(), nullable=True),
    sa.Column('graded_at', sa.DateTime(), nullable=True),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('featured', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claimed_by'], ['users.id'], name=op.f('fk_explanation_grades_claimed_by_users')),
    sa.ForeignKeyConstraint(['graded_by'], ['users.id'], name=op.f('fk_explanation_grades_graded_by_users')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_explanation_grades_question_id_questions')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_explanation_grades_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_explanation_grades')),
    sa.UniqueConstraint('submission_id', name=op.f('uq_explanation_grades_submission_id'))
    )
    with op.batch_alter_table('explanation_grades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_explanation_grades_question_id'), ['question_id'], unique=False)

    op.create_table('reactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['grade_id'], ['explanation_grades.id'], name=op.f('fk_reactions_grade_id_explanation_grades')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reactions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reactions')),
    sa.UniqueConstraint('grade_id', 'user_id', name=op.f('uq_reactions_grade_id_user_id'))
    )
    with op.batch_alter_table('reactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reactions_grade_id'), ['grade_id'], unique=False)

    op.create_table('rubric_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.Column('rubric_item_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grade_id'], ['explanation_grades.id'], name=op.f('fk_rubric_applications_grade_id_explanation_grades')),
    sa.ForeignKeyConstraint(['rubric_item_id'], ['rubric_items.id'], name=op.f('fk_rubric_applications_rubric_item_id_rubric_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_applications')),
    sa.UniqueConstraint('grade_id', 'rubric_item_id', name=op.f('uq_rubric_applications_grade_id_rubric_item_id'))
    )
    with op.batch_alter_table('rubric_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_applications_grade_id'), ['grade_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubric_applications_rubric_item_id'), ['rubric_item_id'], unique=False)

    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('word_budget', sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f('ck_questions_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_questions_kind'),
                                         "kind IN ('numeric','interval','choice','text','explanation')")

    # A plain ADD COLUMN, not a batch: a batch would rebuild `users` on SQLite, which cannot
    # reflect (and so would drop) the expression index uq_users_username_lower.
    op.add_column('users', sa.Column('feature_anonymously', sa.Boolean(), server_default=sa.false(),
                                     nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('feature_anonymously')
    if op.get_bind().dialect.name == 'sqlite':  # the batch rebuilt the table without it
        op.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_users_username_lower ON users (lower(username))")

    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_questions_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_questions_kind'), "kind IN ('numeric','interval','choice','text')")
        batch_op.drop_column('word_budget')

    with op.batch_alter_table('rubric_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_applications_rubric_item_id'))
        batch_op.drop_index(batch_op.f('ix_rubric_applications_grade_id'))

    op.drop_table('rubric_applications')
    with op.batch_alter_table('reactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reactions_grade_id'))

    op.drop_table('reactions')
    with op.batch_alter_table('explanation_grades', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_explanation_grades_question_id'))

    op.drop_table('explanation_grades')
    with op.batch_alter_table('rubric_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_items_question_id'))

    op.drop_table('rubric_items')
