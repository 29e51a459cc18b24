"""Persistence: imports every table so that metadata is complete (for Alembic and tests)."""

from telehealth.audit import AuditEntry, AuditHead
from telehealth.auth.models import (
    CoverageAssignment,
    JoinAttempt,
    PatientProfile,
    PrescriberProfile,
    User,
    UserSession,
)
from telehealth.db import metadata
from telehealth.measures.models import QuestionnaireResponse, SafetyAlert
from telehealth.notify.models import VisitEmail
from telehealth.scheduling.models import AvailabilityException, AvailabilityRule, TimeClaim
from telehealth.visits.models import (
    InPersonEvaluation,
    MedicationEvent,
    MedicationOrder,
    NoteAddendum,
    NoteRevision,
    PatientMedication,
    Visit,
    VisitEvent,
    VisitNote,
)

__all__ = [
    "AuditEntry",
    "AuditHead",
    "AvailabilityException",
    "AvailabilityRule",
    "CoverageAssignment",
    "InPersonEvaluation",
    "JoinAttempt",
    "MedicationEvent",
    "MedicationOrder",
    "NoteAddendum",
    "NoteRevision",
    "PatientMedication",
    "PatientProfile",
    "PrescriberProfile",
    "QuestionnaireResponse",
    "SafetyAlert",
    "TimeClaim",
    "User",
    "UserSession",
    "Visit",
    "VisitEmail",
    "VisitEvent",
    "VisitNote",
    "metadata",
]
