"""Measurement-based care: symptom questionnaires before visits, their course, safety alerts."""
