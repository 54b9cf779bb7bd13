"""Improvement loop: review drafts and submission, KPI periods of a review, action segment, ref, version,
cancellation date and the frozen verdict's figures.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review", schema=None) as b:
        b.add_column(sa.Column("status", sa.String(length=10), nullable=False, server_default="submitted"))
        b.add_column(sa.Column("submitted_by", sa.String(length=120), nullable=True))
        b.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    # Reviews stored before drafts existed count as submitted by their author when they were created.
    op.execute("UPDATE review SET submitted_by = created_by, submitted_at = created_at WHERE submitted_by IS NULL")
    with op.batch_alter_table("review_kpi", schema=None) as b:
        b.add_column(sa.Column("baseline_period", sa.Date(), nullable=True))
        b.add_column(sa.Column("actual_period", sa.Date(), nullable=True))
    with op.batch_alter_table("action", schema=None) as b:
        b.add_column(sa.Column("segment", sa.String(length=80), nullable=False, server_default=""))
        b.add_column(sa.Column("ref", sa.String(length=60), nullable=True))
        b.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("cancelled_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("verdict_figures", sa.JSON(), nullable=True))
        b.create_unique_constraint(b.f("uq_action_ref"), ["ref"])


def downgrade() -> None:
    with op.batch_alter_table("action", schema=None) as b:
        b.drop_constraint(b.f("uq_action_ref"), type_="unique")
        for col in ("verdict_figures", "cancelled_on", "version", "ref", "segment"):
            b.drop_column(col)
    with op.batch_alter_table("review_kpi", schema=None) as b:
        b.drop_column("actual_period")
        b.drop_column("baseline_period")
    with op.batch_alter_table("review", schema=None) as b:
        for col in ("submitted_at", "submitted_by", "status"):
            b.drop_column(col)
