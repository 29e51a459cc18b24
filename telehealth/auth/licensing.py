"""Domain (pure): where a prescriber may see a patient by video (the one licensing rule).

A telehealth visit is lawful only where the prescriber holds a licence in the state the
patient is in (DOMAIN.md): at booking, the state the patient lives in; at check-in, the state
the patient says they are in. A state is the two-letter code `check_state` writes (upper
case), and a prescriber's licensed states are stored the same way, so the codes are compared
exactly: a value that is not in that form names no licence.
"""

from __future__ import annotations

from telehealth.auth.models import PrescriberProfile


def is_licensed_in(profile: PrescriberProfile | None, state: str) -> bool:
    """Whether the prescriber (no profile: no licences) is licensed in `state`."""
    return profile is not None and state in profile.licensed_states
