"""visit emails outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:55:13.880289
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import telehealth.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("booked", "rescheduled", "cancelled", name="emailkind", native_enum=False),
            nullable=False,
        ),
        sa.Column("visit_sequence", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "superseded",
                "failed",
                name="emailstatus",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_visit_emails_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_emails_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_emails")),
    )
    with op.batch_alter_table("visit_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_emails_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_emails_visit_id"), ["visit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visit_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_emails_visit_id"))
        batch_op.drop_index(batch_op.f("ix_visit_emails_status"))

    op.drop_table("visit_emails")
