"""Domain: the medication catalogue and controlled-substance schedules.

The catalogue is read from a versioned JSON file shipped with the package
(``telehealth/visits/data/medications.json``). Each ingredient carries its federal
schedule and the 21 CFR paragraph that places it there; a product takes the highest
schedule of its ingredients unless the product row sets an explicit, cited override
(schedules that depend on strength or form, such as codeine combinations). States may
add their own, dated schedules. Anything we could not classify is treated as
controlled: the in-person rule must fail closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Final, NoReturn

from telehealth.usstates import US_STATES

__all__ = [
    "Catalogue",
    "Ingredient",
    "Product",
    "Schedule",
    "ScheduleDecision",
    "StateOverride",
    "highest_schedule",
    "load_catalogue",
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


_SCHEDULE_VALUES: Final[frozenset[str]] = frozenset(schedule.value for schedule in Schedule)
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
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


# --- loading and validation -------------------------------------------------------------


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue; ``path`` defaults to the packaged data file.

    Raises ValueError naming the offending row when the data is inconsistent.
    """
    if path is None:
        source = resources.files("telehealth.visits") / "data" / "medications.json"
        text = source.read_text(encoding="utf-8")
        origin = "medications.json"
    else:
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    try:
        document: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{origin}: not valid JSON: {exc}") from exc
    return _parse(document)


_TOP_KEYS: Final = frozenset({"version", "sources", "ingredients", "products", "state_overrides"})
_INGREDIENT_KEYS: Final = frozenset({"id", "name", "federal_schedule", "cfr"})
_PRODUCT_KEYS: Final = frozenset(
    {
        "id",
        "name",
        "ingredients",
        "form",
        "strengths",
        "synonyms",
        "federal_override",
        "unclassified",
    }
)
_OVERRIDE_KEYS: Final = frozenset({"schedule", "cfr", "reason"})
_STATE_KEYS: Final = frozenset(
    {
        "state",
        "ingredient",
        "product",
        "schedule",
        "effective_from",
        "effective_until",
        "source",
        "note",
    }
)
_SOURCE_KEYS: Final = frozenset({"id", "citation", "url"})


class _Row:
    """One JSON object being validated; every error names where it came from."""

    def __init__(self, where: str, value: object, allowed: frozenset[str]) -> None:
        self.where = where
        if not isinstance(value, dict):
            self.fail("expected an object")
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            self.fail(f"unknown field(s) {', '.join(unknown)}")
        self._data: dict[str, object] = value

    def fail(self, message: str) -> NoReturn:
        raise ValueError(f"{self.where}: {message}")

    def named(self, key: str) -> None:
        """Add the row's id (or other key) to the label used in error messages."""
        self.where = f"{self.where} {self._data.get(key)!r}"

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> object:
        return self._data.get(key)

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{key} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def slug(self, key: str) -> str:
        value = self.text(key)
        if not _SLUG.fullmatch(value):
            self.fail(f"{key} {value!r} is not a lowercase slug")
        return value

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._data.get(key)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{key} must be a list of non-empty strings")
        if required and not value:
            self.fail(f"{key} must not be empty")
        return tuple(value)

    def flag(self, key: str) -> bool:
        value = self._data.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"{key} must be true or false")
        return value

    def schedule(self, key: str) -> Schedule | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value in _SCHEDULE_VALUES:
            return Schedule(value)
        self.fail(f"{key} {value!r} is not a schedule (II, III, IV, V or null)")

    def day(self, key: str) -> date | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, str) and _ISO_DAY.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"{key} {value!r} is not a date (YYYY-MM-DD)")


def _parse(document: object) -> Catalogue:
    top = _Row("catalogue", document, _TOP_KEYS)
    version = top.text("version")
    ingredients = _parse_ingredients(top.raw("ingredients"))
    products = _parse_products(top.raw("products"), ingredients)
    overrides = _parse_state_overrides(top.raw("state_overrides"), ingredients, products)
    sources = top.raw("sources")
    if not isinstance(sources, list) or not sources:
        top.fail("sources must be a non-empty list")
    for index, value in enumerate(sources):
        row = _Row(f"sources[{index}]", value, _SOURCE_KEYS)
        row.text("citation")
    return Catalogue(
        version=version,
        ingredients=ingredients.values(),
        products=products.values(),
        state_overrides=overrides,
    )


def _rows(value: object, section: str, allowed: frozenset[str]) -> list[_Row]:
    if not isinstance(value, list):
        raise ValueError(f"catalogue: {section} must be a list")
    return [_Row(f"{section}[{index}]", item, allowed) for index, item in enumerate(value)]


def _parse_ingredients(value: object) -> dict[str, Ingredient]:
    ingredients: dict[str, Ingredient] = {}
    for row in _rows(value, "ingredients", _INGREDIENT_KEYS):
        row.named("id")
        ingredient_id = row.slug("id")
        if ingredient_id in ingredients:
            row.fail("duplicate ingredient id")
        schedule = row.schedule("federal_schedule")
        cfr = row.optional_text("cfr")
        if schedule is not None and cfr is None:
            row.fail("a scheduled ingredient must cite its 21 CFR paragraph in cfr")
        if schedule is None and cfr is not None:
            row.fail("cfr is set but federal_schedule is null")
        ingredients[ingredient_id] = Ingredient(
            id=ingredient_id, name=row.text("name"), federal_schedule=schedule, cfr=cfr
        )
    return ingredients


def _parse_products(value: object, ingredients: Mapping[str, Ingredient]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for row in _rows(value, "products", _PRODUCT_KEYS):
        row.named("id")
        product_id = row.slug("id")
        if product_id in products:
            row.fail("duplicate product id")
        ingredient_ids = row.texts("ingredients", required=True)
        for ingredient_id in ingredient_ids:
            if ingredient_id not in ingredients:
                row.fail(f"unknown ingredient {ingredient_id!r}")
        if len(set(ingredient_ids)) != len(ingredient_ids):
            row.fail("an ingredient is listed twice")

        if row.has("federal_override"):
            override = _Row(
                f"{row.where} federal_override", row.raw("federal_override"), _OVERRIDE_KEYS
            )
            schedule = override.schedule("schedule")
            cfr = override.optional_text("cfr")
            override.text("reason")
            if schedule is not None and cfr is None:
                override.fail("an override to a schedule must cite its 21 CFR paragraph in cfr")
        else:
            schedule, cfr = _derive_federal(ingredients[i] for i in ingredient_ids)

        products[product_id] = Product(
            id=product_id,
            name=row.text("name"),
            ingredients=ingredient_ids,
            form=row.text("form"),
            strengths=row.texts("strengths"),
            federal_schedule=schedule,
            federal_cfr=cfr,
            unclassified=row.flag("unclassified"),
            synonyms=row.texts("synonyms"),
        )
    return products


def _derive_federal(ingredients: Iterable[Ingredient]) -> tuple[Schedule | None, str | None]:
    listed = list(ingredients)
    top = highest_schedule(i.federal_schedule for i in listed)
    if top is None:
        return None, None
    citations = dict.fromkeys(i.cfr for i in listed if i.federal_schedule is top and i.cfr)
    return top, "; ".join(citations)


def _parse_state_overrides(
    value: object,
    ingredients: Mapping[str, Ingredient],
    products: Mapping[str, Product],
) -> list[StateOverride]:
    if value is None:
        return []
    overrides: list[StateOverride] = []
    for row in _rows(value, "state_overrides", _STATE_KEYS):
        state = row.text("state")
        row.where = f"{row.where} ({state} {row.raw('ingredient') or row.raw('product')})"
        if state not in US_STATES:
            row.fail(f"state {state!r} is not a two-letter US state code")
        ingredient = row.optional_text("ingredient")
        product = row.optional_text("product")
        if (ingredient is None) == (product is None):
            row.fail("set exactly one of ingredient or product")
        if ingredient is not None and ingredient not in ingredients:
            row.fail(f"unknown ingredient {ingredient!r}")
        if product is not None and product not in products:
            row.fail(f"unknown product {product!r}")
        schedule = row.schedule("schedule")
        if schedule is None:
            row.fail("schedule is required")
        start = row.day("effective_from")
        if start is None:
            row.fail("effective_from is required")
        until = row.day("effective_until")
        if until is not None and until <= start:
            row.fail("effective_until must be after effective_from")
        overrides.append(
            StateOverride(
                state=state,
                schedule=schedule,
                effective_from=start,
                effective_until=until,
                source=row.text("source"),
                ingredient=ingredient,
                product=product,
                note=row.optional_text("note"),
            )
        )
    return overrides
