"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:37:34.400829
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import telehealth.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_entries_seq")),
    )
    _index_columns("audit_entries", "at", "patient_id", "user_id")

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "join_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_attempts")),
    )
    _index_columns("join_attempts", "token_hash")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "role",
            sa.Enum("patient", "prescriber", "scheduler", "admin", name="role", native_enum=False),
            nullable=False,
        ),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    _index_columns("users", "role")

    op.create_table(
        "availability_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=True),
        sa.Column("end_time", sa.String(length=5), nullable=True),
        _fk("availability_exceptions", "prescriber_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_exceptions")),
    )
    _index_columns("availability_exceptions", "prescriber_id")

    op.create_table(
        "availability_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["users.id"], name=op.f("fk_availability_rules_prescriber_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_rules")),
    )
    _index_columns("availability_rules", "prescriber_id")

    op.create_table(
        "coverage_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("covering_prescriber_id", sa.Integer(), nullable=False),
        sa.Column("covered_prescriber_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _fk("coverage_assignments", "covered_prescriber_id", "users"),
        _fk("coverage_assignments", "covering_prescriber_id", "users"),
        _fk("coverage_assignments", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_assignments")),
    )
    _index_columns("coverage_assignments", "covered_prescriber_id", "covering_prescriber_id")

    op.create_table(
        "in_person_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("attestation", sa.Text(), nullable=False),
        sa.Column("recorded_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_in_person_evaluations_patient_id_users")
        ),
        _fk("in_person_evaluations", "prescriber_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_in_person_evaluations")),
    )
    _index_columns("in_person_evaluations", "patient_id", "prescriber_id")

    op.create_table(
        "patient_medications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("medication_id", sa.String(length=100), nullable=False),
        sa.Column("medication_name", sa.String(length=200), nullable=False),
        sa.Column("dose", sa.String(length=100), nullable=False),
        sa.Column("route", sa.String(length=50), nullable=False),
        sa.Column("frequency", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "stopped", name="medicationstatus", native_enum=False),
            nullable=False,
        ),
        sa.Column("started_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_patient_medications_patient_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_medications")),
    )
    _index_columns("patient_medications", "patient_id")

    op.create_table(
        "patient_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("allergies", sa.JSON(), nullable=False),
        sa.Column("intake_medications", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_patient_profiles_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_patient_profiles")),
    )
    op.create_table(
        "prescriber_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "credential",
            sa.Enum("MD", "DO", "NP", "PA", name="credential", native_enum=False, length=4),
            nullable=False,
        ),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("licensed_states", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("supervising_prescriber_id", sa.Integer(), nullable=True),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("va_practitioner", sa.Boolean(), nullable=False),
        _fk("prescriber_profiles", "supervising_prescriber_id", "users"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_prescriber_profiles_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_prescriber_profiles")),
        sa.UniqueConstraint("npi", name=op.f("uq_prescriber_profiles_npi")),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column(
            "visit_type",
            sa.Enum("initial_evaluation", "follow_up", name="visittype", native_enum=False),
            nullable=False,
        ),
        sa.Column(
            "modality",
            sa.Enum("telehealth", "in_person", name="modality", native_enum=False),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "booked",
                "waiting",
                "in_progress",
                "finished",
                "cancelled",
                "noshow",
                name="visitstatus",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("start", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("location_state", sa.String(length=2), nullable=True),
        sa.Column("checked_in_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("admitted_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("booked_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booked_by_id"], ["users.id"], name=op.f("fk_visits_booked_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_visits_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["users.id"], name=op.f("fk_visits_prescriber_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    _index_columns("visits", "patient_id", "prescriber_id", "start", "status")

    op.create_table(
        "medication_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("prescriber_id", sa.Integer(), nullable=False),
        sa.Column("medication_id", sa.String(length=100), nullable=False),
        sa.Column("medication_name", sa.String(length=200), nullable=False),
        sa.Column("schedule", sa.String(length=4), nullable=True),
        sa.Column("schedule_basis", sa.String(length=200), nullable=True),
        sa.Column("dose", sa.String(length=100), nullable=False),
        sa.Column("route", sa.String(length=50), nullable=False),
        sa.Column("frequency", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.String(length=50), nullable=False),
        sa.Column("refills", sa.Integer(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "cancelled",
                "completed",
                "entered-in-error",
                name="orderstatus",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("catalogue_version", sa.String(length=40), nullable=False),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gate_rule", sa.String(length=40), nullable=True),
        sa.Column("days_supply", sa.Integer(), nullable=True),
        sa.Column("indication", sa.String(length=40), nullable=True),
        sa.Column("pdmp_state", sa.String(length=2), nullable=True),
        sa.Column("pdmp_checked_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pdmp_unavailable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_medication_orders_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["users.id"], name=op.f("fk_medication_orders_prescriber_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_medication_orders_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medication_orders")),
    )
    _index_columns("medication_orders", "patient_id", "visit_id")

    op.create_table(
        "note_addenda",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("signed_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_note_addenda_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_note_addenda_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_addenda")),
    )
    _index_columns("note_addenda", "visit_id")

    op.create_table(
        "note_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subjective", sa.Text(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("saved_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("saved_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["saved_by_id"], ["users.id"], name=op.f("fk_note_revisions_saved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_note_revisions_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_revisions")),
        sa.UniqueConstraint("visit_id", "version", name=op.f("uq_note_revisions_visit_id_version")),
    )
    _index_columns("note_revisions", "visit_id")

    op.create_table(
        "time_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=12), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("cell_start", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_time_claims_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_claims")),
        sa.UniqueConstraint(
            "party", "party_id", "cell_start", name=op.f("uq_time_claims_party_party_id_cell_start")
        ),
    )
    _index_columns("time_claims", "visit_id")

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("visit_sequence", sa.Integer(), nullable=True),
        sa.Column("created_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=20), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_user_sessions_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    _index_columns("user_sessions", "user_id")

    op.create_table(
        "visit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_visit_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_events_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_events")),
    )
    _index_columns("visit_events", "visit_id")

    op.create_table(
        "visit_notes",
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("subjective", sa.Text(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "signed", name="notestatus", native_enum=False),
            nullable=False,
        ),
        sa.Column("updated_at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("signed_at", telehealth.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["signed_by_id"], ["users.id"], name=op.f("fk_visit_notes_signed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_visit_notes_updated_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_notes_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_visit_notes")),
    )
    op.create_table(
        "medication_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_medication_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("dose", sa.String(length=100), nullable=True),
        sa.Column("frequency", sa.String(length=100), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("at", telehealth.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_medication_events_actor_id_users")
        ),
        _fk("medication_events", "order_id", "medication_orders"),
        _fk("medication_events", "patient_medication_id", "patient_medications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medication_events")),
    )
    _index_columns("medication_events", "patient_medication_id")


def downgrade() -> None:
    # Dropping a table drops its indexes too (SQLite and PostgreSQL), children first.
    for table in (
        "medication_events",
        "visit_notes",
        "visit_events",
        "user_sessions",
        "time_claims",
        "note_revisions",
        "note_addenda",
        "medication_orders",
        "visits",
        "prescriber_profiles",
        "patient_profiles",
        "patient_medications",
        "in_person_evaluations",
        "coverage_assignments",
        "availability_rules",
        "availability_exceptions",
        "users",
        "join_attempts",
        "audit_head",
        "audit_entries",
    ):
        op.drop_table(table)


def _index_columns(table: str, *columns: str) -> None:
    """A plain (non-unique) index on each column, named ix_<table>_<column>."""
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    """``table.column`` references ``target.id``, named fk_<table>_<column>_<target>."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )
