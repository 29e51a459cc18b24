"""Domain: the medication catalogue's data file, read and validated once.

`load_catalogue` reads ``telehealth/visits/data/medications.json`` (or another file, for
tests) and checks every row, naming the offending one; `packaged_catalogue` is the shipped
file, read once per process. The lookups live in `telehealth.visits.catalogue`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Final, NoReturn

from telehealth.usstates import US_STATES
from telehealth.visits.catalogue import (
    Catalogue,
    Ingredient,
    Product,
    Schedule,
    StateOverride,
    highest_schedule,
)

_SCHEDULE_VALUES: Final[frozenset[str]] = frozenset(schedule.value for schedule in Schedule)
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@functools.cache
def packaged_catalogue() -> Catalogue:
    """The catalogue shipped with the package, read once per process (it is immutable)."""
    return load_catalogue()


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
