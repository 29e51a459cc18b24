"""Domain: the medication catalogue and controlled-substance schedules.

The catalogue is read from a versioned JSON file shipped with the package
(``telehealth/visits/data/medications.json``, read and checked by `catalogue_file`). Each
ingredient carries its federal schedule and the 21 CFR paragraph that places it there; a
product takes the highest schedule of its ingredients unless the product row sets an
explicit, cited override (schedules that depend on strength or form, such as codeine
combinations). States may add their own, dated schedules. Anything we could not classify
is treated as controlled: the in-person rule must fail closed. This module holds the
catalogue's types and lookups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from telehealth.usstates import US_STATES

__all__ = [
    "Catalogue",
    "Ingredient",
    "Product",
    "Schedule",
    "ScheduleDecision",
    "StateOverride",
    "highest_schedule",
]


class Schedule(StrEnum):
    """A federal or state controlled-substance schedule (I is never prescribed)."""

    II = "II"
    III = "III"
    IV = "IV"
    V = "V"


# II is the most restrictive schedule, V the least.
_RANK: Final[Mapping[Schedule, int]] = {
    Schedule.II: 4,
    Schedule.III: 3,
    Schedule.IV: 2,
    Schedule.V: 1,
}


_SEARCH_NOISE = re.compile(r"[^\w.%/]+")


def highest_schedule(schedules: Iterable[Schedule | None]) -> Schedule | None:
    """The most restrictive of ``schedules`` (II beats V); None if none applies."""
    present = [schedule for schedule in schedules if schedule is not None]
    return max(present, key=_RANK.__getitem__, default=None)


@dataclass(frozen=True)
class Ingredient:
    id: str
    name: str
    federal_schedule: Schedule | None
    cfr: str | None  # e.g. "21 CFR 1308.12(d)"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    ingredients: tuple[str, ...]
    form: str
    strengths: tuple[str, ...]
    federal_schedule: Schedule | None
    federal_cfr: str | None
    unclassified: bool
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleDecision:
    controlled: bool
    schedule: Schedule | None
    basis: str
    jurisdiction: str  # "federal" or the two-letter state that raised the schedule


@dataclass(frozen=True)
class StateOverride:
    """A state's own schedule for an ingredient (or one product), in force on a range of days."""

    state: str
    schedule: Schedule
    effective_from: date
    effective_until: date | None  # exclusive
    source: str
    ingredient: str | None = None
    product: str | None = None
    note: str | None = None

    def in_force_on(self, day: date) -> bool:
        if day < self.effective_from:
            return False
        return self.effective_until is None or day < self.effective_until

    def applies_to(self, product: Product) -> bool:
        if self.product is not None:
            return self.product == product.id
        return self.ingredient in product.ingredients

    @property
    def basis(self) -> str:
        start = self.effective_from.isoformat()
        if self.effective_until is None:
            return f"{self.source} (from {start})"
        return f"{self.source} (from {start} until {self.effective_until.isoformat()})"


def _normalise(text: str) -> str:
    return " ".join(_SEARCH_NOISE.sub(" ", text.casefold()).split())


def _normalise_state(state: str | None) -> str | None:
    if state is None:
        return None
    code = state.strip().upper()
    if code not in US_STATES:
        raise ValueError(f"not a two-letter US state or territory code: {state!r}")
    return code


class Catalogue:
    """Products, their ingredients and the state schedules, as of one data version."""

    def __init__(
        self,
        *,
        version: str,
        ingredients: Iterable[Ingredient],
        products: Iterable[Product],
        state_overrides: Iterable[StateOverride] = (),
    ) -> None:
        self.version = version
        self._ingredients = {ingredient.id: ingredient for ingredient in ingredients}
        self._products = {product.id: product for product in products}
        self._overrides_by_state: dict[str, list[StateOverride]] = {}
        for override in sorted(state_overrides, key=lambda o: o.effective_from):
            self._overrides_by_state.setdefault(override.state, []).append(override)
        self._search_terms = {
            product.id: self._terms_for(product) for product in self._products.values()
        }

    def get(self, product_id: str) -> Product | None:
        return self._products.get(product_id)

    def ingredient(self, ingredient_id: str) -> Ingredient | None:
        return self._ingredients.get(ingredient_id)

    def products(self) -> list[Product]:
        return sorted(self._products.values(), key=lambda p: (p.name.casefold(), p.id))

    def search(self, query: str, limit: int = 20) -> list[Product]:
        """Products whose name, ingredient, brand or synonym matches ``query``.

        Whole-term matches come first, then terms that start with the query, then terms
        with a word that starts with it, then any other substring match. Within a rank the
        shorter name comes first, so the plain product ("Alprazolam tablet") precedes its
        variants ("Alprazolam ER tablet", "... orally disintegrating tablet").
        """
        needle = _normalise(query)
        if not needle or limit <= 0:
            return []
        ranked: list[tuple[int, int, str, str]] = []
        for product_id, terms in self._search_terms.items():
            rank = _match_rank(terms, needle)
            if rank is not None:
                name = self._products[product_id].name.casefold()
                ranked.append((rank, len(name), name, product_id))
        ranked.sort()
        return [self._products[entry[-1]] for entry in ranked[:limit]]

    def schedule_on(self, product_id: str, *, state: str | None, on: date) -> ScheduleDecision:
        """The schedule that governs an order for ``product_id`` placed on day ``on``.

        ``state`` is where the patient is physically located (None: federal law only).
        ``on`` is the calendar day of the order in that place; a datetime is refused
        because its UTC date can differ from the patient's local date.
        """
        product = self._products.get(product_id)
        if product is None:
            raise KeyError(product_id)
        if isinstance(on, datetime):
            raise TypeError("schedule_on needs the calendar date of the order, not a datetime")
        code = _normalise_state(state)

        best: tuple[Schedule, str, str] | None = None
        if product.federal_schedule is not None:
            federal_basis = product.federal_cfr or "21 CFR part 1308"
            best = (product.federal_schedule, federal_basis, "federal")
        if code is not None:
            for override in self._overrides_by_state.get(code, ()):
                if not (override.applies_to(product) and override.in_force_on(on)):
                    continue
                # A state only "raises" the schedule when it is strictly higher.
                if best is None or _RANK[override.schedule] > _RANK[best[0]]:
                    best = (override.schedule, override.basis, code)

        if product.unclassified:
            return ScheduleDecision(
                controlled=True,
                schedule=best[0] if best else None,
                basis="unclassified: treated as controlled",
                jurisdiction=best[2] if best else "federal",
            )
        if best is None:
            where = f"federally or in {code}" if code else "federally"
            return ScheduleDecision(
                controlled=False,
                schedule=None,
                basis=f"not a controlled substance {where}",
                jurisdiction="federal",
            )
        schedule, basis, jurisdiction = best
        return ScheduleDecision(
            controlled=True, schedule=schedule, basis=basis, jurisdiction=jurisdiction
        )

    def _terms_for(self, product: Product) -> tuple[str, ...]:
        names = [product.name, product.id, *product.synonyms]
        names += [self._ingredients[i].name for i in product.ingredients if i in self._ingredients]
        return tuple(dict.fromkeys(term for term in map(_normalise, names) if term))


def _match_rank(terms: Iterable[str], needle: str) -> int | None:
    best: int | None = None
    for term in terms:
        if term == needle:
            return 0
        if term.startswith(needle):
            rank = 1
        elif f" {needle}" in f" {term}":
            rank = 2
        elif needle in term:
            rank = 3
        else:
            continue
        best = rank if best is None else min(best, rank)
    return best
