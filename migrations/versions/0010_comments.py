"""KPI commentary: one comment per KPI, segment and period (what happened, why, what is being done), optionally
linking an improvement action or a decision, edited with a version check like reviews (kpis.commentary).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_comment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kpi_id", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=80), server_default="", nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["kpi_id"], ["kpi.id"], name=op.f("fk_kpi_comment_kpi_id_kpi")),
        sa.ForeignKeyConstraint(["action_id"], ["action.id"], name=op.f("fk_kpi_comment_action_id_action")),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"], name=op.f("fk_kpi_comment_decision_id_decision")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_comment")),
        sa.UniqueConstraint("kpi_id", "segment", "period", name="uq_kpi_comment_key"),
    )


def downgrade() -> None:
    op.drop_table("kpi_comment")
