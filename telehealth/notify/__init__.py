"""Emails to patients about their visits, through a transactional outbox."""
