"""One assessment per respondent and quarter (unique period + respondent).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 02:55:00

A database that already holds two assessments of the same respondent for one quarter keeps the
newest (highest id) of them: answering again is meant to replace, not to add a second vote.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dupes = bind.execute(sa.text(
        "SELECT a.id FROM assessment a WHERE EXISTS (SELECT 1 FROM assessment b WHERE b.period = a.period "
        "AND b.respondent = a.respondent AND b.id > a.id)")).scalars().all()
    for old_id in dupes:
        bind.execute(sa.text("DELETE FROM assessment_score WHERE assessment_id = :i"), {"i": old_id})
        bind.execute(sa.text("DELETE FROM assessment WHERE id = :i"), {"i": old_id})
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_assessment_period_respondent', ['period', 'respondent'])


def downgrade() -> None:
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.drop_constraint('uq_assessment_period_respondent', type_='unique')
