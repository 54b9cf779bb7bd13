"""Edit versions: reviews and meetings get the version column actions already have, checked in every UPDATE
so a second save from a form opened before the first is refused instead of overwriting it.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Plain ADD COLUMN with a server default (existing rows start at version 1): no table rebuild on SQLite, which
# would cascade-delete the rows that point at these tables (review_kpi, action, meeting_attendee, decision).
_TABLES = ("review", "meeting")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "version"')
