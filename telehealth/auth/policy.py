"""Domain: who is acting, and the role checks every path goes through."""

from __future__ import annotations

from dataclasses import dataclass

from telehealth.auth.models import Role
from telehealth.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: Role
    username: str = ""
    # A patient who came in through a join link may reach that one visit only.
    visit_scope: int | None = None
    # A join-link session opened early for the visit's questionnaires: nothing else.
    questionnaires_only: bool = False


def ensure_role(actor: Actor, *roles: Role, hide: bool = False) -> None:
    """Refuse unless the actor has one of the roles. `hide` answers as if nothing is there."""
    if actor.role not in roles:
        raise NotFound() if hide else PermissionDenied()
    if actor.visit_scope is not None:
        # Join-link sessions reach only their own visit's endpoints.
        raise NotFound() if hide else PermissionDenied()


def ensure_full_session(actor: Actor) -> None:
    if actor.visit_scope is not None:
        raise PermissionDenied("This link only opens its own visit. Sign in to see more.")


def can_deactivate(actor: Actor, user_id: int) -> bool:
    """An administrator may deactivate any account but their own (no one locks the practice
    out of its last administrator by a slip)."""
    return actor.role is Role.admin and actor.visit_scope is None and actor.user_id != user_id
