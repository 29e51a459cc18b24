"""questionnaires, safety alerts, staff email, escalation emails, questionnaire-only sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:05:44.268008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import telehealth.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=20), nullable=False),
        sa.Column("instruments_version", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "submitted", name="responsestatus", native_enum=False),
            nullable=False,
        ),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(length=30), nullable=True),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_questionnaire_responses_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_questionnaire_responses_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_responses")),
        sa.UniqueConstraint(
            "visit_id", "instrument", name=op.f("uq_questionnaire_responses_visit_id_instrument")
        ),
    )
    with op.batch_alter_table("questionnaire_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_questionnaire_responses_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_questionnaire_responses_submitted_at"), ["submitted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_questionnaire_responses_visit_id"), ["visit_id"], unique=False
        )

    op.create_table(
        "safety_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind", sa.Enum("suicide_risk", name="alertkind", native_enum=False), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum("open", "acknowledged", name="alertstatus", native_enum=False),
            nullable=False,
        ),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["users.id"],
            name=op.f("fk_safety_alerts_acknowledged_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_safety_alerts_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["users.id"], name=op.f("fk_safety_alerts_prescriber_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_responses.id"],
            name=op.f("fk_safety_alerts_response_id_questionnaire_responses"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_safety_alerts_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_alerts")),
        sa.UniqueConstraint("response_id", name=op.f("uq_safety_alerts_response_id")),
    )
    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_alerts_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_safety_alerts_prescriber_id"), ["prescriber_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_safety_alerts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_alerts_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=20), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))

    with op.batch_alter_table("visit_emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch_op.alter_column(
            "kind",
            existing_type=sa.VARCHAR(length=11),
            type_=sa.Enum(
                "booked",
                "rescheduled",
                "cancelled",
                "reminder",
                "safety_escalation",
                name="emailkind",
                native_enum=False,
            ),
            existing_nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_visit_emails_alert_id_safety_alerts"),
            "safety_alerts",
            ["alert_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_visit_emails_recipient_id_users"), "users", ["recipient_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_emails", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_visit_emails_recipient_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_visit_emails_alert_id_safety_alerts"), type_="foreignkey"
        )
        batch_op.alter_column(
            "kind",
            existing_type=sa.Enum(
                "booked",
                "rescheduled",
                "cancelled",
                "reminder",
                "safety_escalation",
                name="emailkind",
                native_enum=False,
            ),
            type_=sa.VARCHAR(length=11),
            existing_nullable=False,
        )
        batch_op.drop_column("alert_id")
        batch_op.drop_column("recipient_id")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email")

    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_column("purpose")

    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_alerts_visit_id"))
        batch_op.drop_index(batch_op.f("ix_safety_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_safety_alerts_prescriber_id"))
        batch_op.drop_index(batch_op.f("ix_safety_alerts_patient_id"))

    op.drop_table("safety_alerts")
    with op.batch_alter_table("questionnaire_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questionnaire_responses_visit_id"))
        batch_op.drop_index(batch_op.f("ix_questionnaire_responses_submitted_at"))
        batch_op.drop_index(batch_op.f("ix_questionnaire_responses_patient_id"))

    op.drop_table("questionnaire_responses")
