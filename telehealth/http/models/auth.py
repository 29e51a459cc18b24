"""Web layer: request and response models of sign-in, sessions and accounts."""

from __future__ import annotations

from telehealth.http.models import Reply


class Me(Reply):
    """The caller."""

    id: int
    username: str
    role: str
    full_name: str
    # Only for a join-link session: the one visit it may act on.
    visit_id: int | None = None
