"""The people directory: a signed-in person's display name and verified e-mail under their stable key, so pages
show "Maria Chen" where rows store ``oidc:<iss>|<sub>`` (kpis.access.people). A new table: nothing else changes,
and a downgrade drops only this table (it is filled again at the next sign-in of each person).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_person"),
    )


def downgrade() -> None:
    op.drop_table("person")
