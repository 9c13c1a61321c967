"""How a holder's name is shown at a counter: initial and family name, e.g. "J. PEETERS"."""

from __future__ import annotations

__all__ = ["display_name"]


def display_name(given_name: str, family_name: str) -> str:
    """Initial of the first given name and the family name in capitals.

    Enough for an ID check at the counter, and less than the full name (minimisation).
    """
    initial = given_name.strip()[:1].upper()
    family = " ".join(family_name.split()).upper()
    return f"{initial}. {family}" if initial else family
