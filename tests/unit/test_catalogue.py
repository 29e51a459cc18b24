"""Unit tests for the medication catalogue and its controlled-substance schedules."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from telehealth.visits.catalogue import (
    Catalogue,
    Schedule,
    highest_schedule,
)
from telehealth.visits.catalogue_file import load_catalogue
from telehealth.visits.gate.policy import schedule_for

ORDER_DAY = date(2025, 3, 1)

SSRIS = ["fluoxetine", "sertraline", "paroxetine", "citalopram", "escitalopram", "fluvoxamine"]
ANTIPSYCHOTICS = [
    "haloperidol",
    "chlorpromazine",
    "risperidone",
    "paliperidone",
    "quetiapine",
    "olanzapine",
    "aripiprazole",
    "brexpiprazole",
    "cariprazine",
    "lurasidone",
    "ziprasidone",
    "clozapine",
    "lumateperone",
]
OTHER_UNCONTROLLED = [
    "venlafaxine",
    "desvenlafaxine",
    "duloxetine",
    "bupropion",
    "mirtazapine",
    "trazodone",
    "vortioxetine",
    "vilazodone",
    "lithium",
    "divalproex",
    "valproic-acid",
    "lamotrigine",
    "carbamazepine",
    "oxcarbazepine",
    "atomoxetine",
    "viloxazine",
    "guanfacine",
    "clonidine",
    "hydroxyzine",
    "buspirone",
    "naltrexone",
    "propranolol",
    "prazosin",
    "ramelteon",
    "doxepin",
    "acamprosate",
    "disulfiram",
    "varenicline",
    "tasimelteon",
    "cannabidiol",  # Epidiolex: out of federal control since 2020 (was Schedule V)
    "fenfluramine",  # Fintepla: out of federal control since 2022 (was Schedule IV)
    "benztropine",
    "deutetrabenazine",
    "valbenazine",
    "pitolisant",
]
# Catalogue 2026.12.01: muscle relaxants (carisoprodol, Schedule IV, is the exception) and the
# other neighbours a psychiatric practice orders or is asked about.
MUSCLE_RELAXANTS = [
    "cyclobenzaprine",
    "tizanidine",
    "methocarbamol",
    "baclofen",
    "metaxalone",
    "orphenadrine",
    "chlorzoxazone",
    "dantrolene",
]
NEIGHBOURS_2026_12 = [
    "gepirone",
    "isocarboxazid",
    "desipramine",
    "protriptyline",
    "trimipramine",
    "amoxapine",
    "maprotiline",
    "thioridazine",
    "thiothixene",
    "trifluoperazine",
    "molindone",
    "pimozide",
    "dexmedetomidine",
    "amantadine",
    "metformin",
    "diphenhydramine",
    "donepezil",
    "memantine",
    "nalmefene",
]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def packaged_json() -> dict[str, Any]:
    source = resources.files("telehealth.visits") / "data" / "medications.json"
    document: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return document


def ids(products: list[Any]) -> list[str]:
    return [product.id for product in products]


# --- schedules --------------------------------------------------------------------------


def test_catalogue_carries_a_dated_version(catalogue: Catalogue) -> None:
    year, month, day = (int(part) for part in catalogue.version.split("."))
    assert date(year, month, day)


@pytest.mark.parametrize(
    ("product_id", "schedule", "cfr_section"),
    [
        ("methylphenidate-er-tablet", Schedule.II, "21 CFR 1308.12"),
        ("oxycodone-apap-tablet", Schedule.II, "21 CFR 1308.12"),
        ("buprenorphine-naloxone-sl-film", Schedule.III, "21 CFR 1308.13"),
        ("esketamine-nasal-spray", Schedule.III, "21 CFR 1308.13"),
        ("alprazolam-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("modafinil-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("tramadol-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("pregabalin-capsule", Schedule.V, "21 CFR 1308.15"),
        ("cenobamate-tablet", Schedule.V, "21 CFR 1308.15"),
        ("quazepam-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("butorphanol-nasal-spray", Schedule.IV, "21 CFR 1308.14"),
        ("pentazocine-naloxone-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("diethylpropion-er-tablet", Schedule.IV, "21 CFR 1308.14"),
        ("benzphetamine-tablet", Schedule.III, "21 CFR 1308.13"),
        ("clobazam-oral-film", Schedule.IV, "21 CFR 1308.14"),
        ("carisoprodol-tablet", Schedule.IV, "21 CFR 1308.14(c)"),
        ("chlordiazepoxide-amitriptyline-tablet", Schedule.IV, "21 CFR 1308.14(c)"),
        ("chlordiazepoxide-clidinium-capsule", Schedule.IV, "21 CFR 1308.14(c)"),
        ("zuranolone-capsule", Schedule.IV, "21 CFR 1308.14(c)"),
        ("lemborexant-tablet", Schedule.IV, "21 CFR 1308.14(c)"),
        ("daridorexant-tablet", Schedule.IV, "21 CFR 1308.14(c)"),
    ],
)
def test_each_federal_schedule_is_found_with_its_cfr_section(
    catalogue: Catalogue, product_id: str, schedule: Schedule, cfr_section: str
) -> None:
    decision = catalogue.schedule_on(product_id, state=None, on=ORDER_DAY)

    assert decision.controlled
    assert decision.schedule is schedule
    assert decision.basis.startswith(cfr_section)
    assert decision.jurisdiction == "federal"


@pytest.mark.parametrize(
    ("ingredient_id", "rule"),
    [
        ("carisoprodol", "76 FR 77330"),
        ("suvorexant", "79 FR 51243"),
        ("brexanolone", "84 FR 27938"),
        ("lemborexant", "85 FR 19387"),
        ("daridorexant", "87 FR 20313"),
        ("zuranolone", "88 FR 74347"),
    ],
)
def test_recently_scheduled_ingredients_cite_the_federal_register_rule(
    catalogue: Catalogue, ingredient_id: str, rule: str
) -> None:
    ingredient = catalogue.ingredient(ingredient_id)
    citations = [source["citation"] for source in packaged_json()["sources"]]

    assert ingredient is not None
    assert (ingredient.federal_schedule, ingredient.cfr) == (Schedule.IV, "21 CFR 1308.14(c)")
    assert any(rule in c and ingredient_id in c and "1308.14(c)" in c for c in citations)


def test_the_catalogue_version_is_at_least_the_december_2026_upkeep(catalogue: Catalogue) -> None:
    assert tuple(map(int, catalogue.version.split("."))) >= (2026, 12, 1)


def test_catalogue_holds_products_in_every_schedule(catalogue: Catalogue) -> None:
    found = {product.federal_schedule for product in catalogue.products()}

    assert found >= {*Schedule, None}


def test_azstarys_takes_schedule_ii_from_its_ingredients(catalogue: Catalogue) -> None:
    azstarys = catalogue.search("Azstarys")[0]
    serdex = catalogue.ingredient("serdexmethylphenidate")

    assert serdex is not None
    assert serdex.federal_schedule is Schedule.IV
    assert azstarys.federal_schedule is Schedule.II
    decision = catalogue.schedule_on(azstarys.id, state=None, on=ORDER_DAY)
    assert (decision.schedule, decision.basis) == (Schedule.II, "21 CFR 1308.12(d)")


@pytest.mark.parametrize(
    ("product_id", "schedule"),
    [
        ("codeine-sulfate-tablet", Schedule.II),
        ("codeine-apap-tablet", Schedule.III),
        ("codeine-apap-oral-solution", Schedule.III),
        ("butalbital-apap-caffeine-codeine-capsule", Schedule.III),
        ("codeine-guaifenesin-oral-solution", Schedule.V),
        ("codeine-promethazine-oral-solution", Schedule.V),
    ],
)
def test_codeine_schedule_depends_on_form_and_strength(
    catalogue: Catalogue, product_id: str, schedule: Schedule
) -> None:
    assert catalogue.schedule_on(product_id, state=None, on=ORDER_DAY).schedule is schedule


def test_hydrocodone_cough_syrup_stays_schedule_ii_unlike_codeine_syrup(
    catalogue: Catalogue,
) -> None:
    hycodan = catalogue.schedule_on(
        "hydrocodone-homatropine-oral-solution", state=None, on=ORDER_DAY
    )

    assert hycodan.schedule is Schedule.II


def test_lomotil_is_schedule_v_although_diphenoxylate_alone_is_ii(catalogue: Catalogue) -> None:
    diphenoxylate = catalogue.ingredient("diphenoxylate")
    lomotil = catalogue.schedule_on("diphenoxylate-atropine-tablet", state=None, on=ORDER_DAY)

    assert diphenoxylate is not None
    assert diphenoxylate.federal_schedule is Schedule.II
    assert (lomotil.schedule, lomotil.basis) == (Schedule.V, "21 CFR 1308.15(c)(4)")


@pytest.mark.parametrize(
    ("product_id", "schedule", "basis"),
    [
        ("dronabinol-capsule", Schedule.III, "21 CFR 1308.13(g)(1)"),
        ("dronabinol-oral-solution", Schedule.II, "21 CFR 1308.12(f)"),
    ],
)
def test_dronabinol_capsules_are_iii_and_the_oral_solution_is_ii(
    catalogue: Catalogue, product_id: str, schedule: Schedule, basis: str
) -> None:
    decision = catalogue.schedule_on(product_id, state=None, on=ORDER_DAY)

    assert (decision.schedule, decision.basis) == (schedule, basis)


def test_every_products_federal_schedule_is_the_highest_of_its_ingredients_unless_overridden(
    catalogue: Catalogue,
) -> None:
    raw_products = {row["id"]: row for row in packaged_json()["products"]}
    overridden = 0

    for product in catalogue.products():
        override = raw_products[product.id].get("federal_override")
        if override is not None:
            overridden += 1
            assert override["reason"].strip()
            assert product.federal_schedule == override["schedule"]
            assert product.federal_cfr == override["cfr"]
            continue
        ingredients = [catalogue.ingredient(i) for i in product.ingredients]
        expected = highest_schedule(i.federal_schedule for i in ingredients if i is not None)
        assert product.federal_schedule is expected, product.id

    assert overridden >= 6  # codeine by form and strength, dronabinol, Lomotil


def test_every_scheduled_ingredient_cites_a_part_1308_paragraph(catalogue: Catalogue) -> None:
    ingredient_ids = {i for product in catalogue.products() for i in product.ingredients}

    for ingredient_id in sorted(ingredient_ids):
        ingredient = catalogue.ingredient(ingredient_id)
        assert ingredient is not None
        if ingredient.federal_schedule is not None:
            assert ingredient.cfr is not None
            assert ingredient.cfr.startswith("21 CFR 1308.1"), ingredient_id


@pytest.mark.parametrize(
    "ingredient_id",
    SSRIS + ANTIPSYCHOTICS + OTHER_UNCONTROLLED + MUSCLE_RELAXANTS + NEIGHBOURS_2026_12,
)
def test_everyday_psychiatric_drugs_are_not_controlled(
    catalogue: Catalogue, ingredient_id: str
) -> None:
    products = [p for p in catalogue.products() if ingredient_id in p.ingredients]
    assert products, f"no product contains {ingredient_id}"

    for product in products:
        for state in (None, "KY", "TX"):
            decision = catalogue.schedule_on(product.id, state=state, on=ORDER_DAY)
            assert not decision.controlled, (product.id, state)
            assert decision.schedule is None


# --- state schedules --------------------------------------------------------------------

# Each state that schedules gabapentin, with the part of its own register the row must cite.
GABAPENTIN_REGISTERS = {
    "KY": "902 KAR 55:015",
    "WV": "West Virginia Code § 60A-2-212",
    "TN": "Tennessee Code Ann. title 39, ch. 17, part 4",
    "VA": "Virginia Code § 54.1-3454",
    "ND": "North Dakota Century Code § 19-03.1-13",
    "AL": "Ala. Admin. Code ch. 420-7-2",
    "UT": "Utah Code § 58-37-4",
    "MT": "Montana Code Ann. § 50-32-232",
    "MI": "Michigan Admin. Code R 338.3101",
}
SCHEDULING_STATES = [state for state in GABAPENTIN_REGISTERS if state != "MI"]
# Gabapentin is reportable to these states' prescription monitoring programs, which is not a
# schedule: an order there follows federal law (gabapentin is not federally controlled).
PDMP_ONLY_STATES = ["OH", "MA", "MN", "WI", "CT", "IN", "KS", "NE", "NJ", "OR", "WY", "DC"]


def test_gabapentin_is_schedule_v_in_kentucky_but_not_in_ohio(catalogue: Catalogue) -> None:
    kentucky = catalogue.schedule_on("gabapentin-capsule", state="KY", on=ORDER_DAY)
    ohio = catalogue.schedule_on("gabapentin-capsule", state="OH", on=ORDER_DAY)
    federal = catalogue.schedule_on("gabapentin-capsule", state=None, on=ORDER_DAY)

    assert (kentucky.controlled, kentucky.schedule, kentucky.jurisdiction) == (
        True,
        Schedule.V,
        "KY",
    )
    assert kentucky.basis == (
        "Kentucky 902 KAR 55:015 (formerly 902 KAR 55:035), Schedule V (from 2017-07-01)"
    )
    assert not ohio.controlled
    assert not federal.controlled


@pytest.mark.parametrize("state", SCHEDULING_STATES)
def test_gabapentin_is_schedule_v_in_every_state_that_schedules_it(
    catalogue: Catalogue, state: str
) -> None:
    for product_id in ("gabapentin-capsule", "gabapentin-tablet", "gabapentin-er-tablet"):
        decision = catalogue.schedule_on(product_id, state=state, on=date(2026, 12, 1))
        assert (decision.schedule, decision.jurisdiction) == (Schedule.V, state)


@pytest.mark.parametrize(
    ("state", "day", "controlled"),
    [
        ("KY", date(2017, 6, 30), False),
        ("KY", date(2017, 7, 1), True),
        ("TN", date(2018, 6, 30), False),
        ("TN", date(2018, 7, 1), True),
        ("VA", date(2019, 6, 30), False),
        ("VA", date(2019, 7, 1), True),
        ("AL", date(2019, 11, 17), False),
        ("AL", date(2019, 11, 18), True),
        ("UT", date(2024, 4, 30), False),
        ("UT", date(2024, 5, 1), True),
        ("MI", date(2019, 1, 3), False),
        ("MI", date(2019, 1, 4), True),
        ("MI", date(2020, 6, 1), True),
        ("MI", date(2024, 5, 30), True),
        ("MI", date(2024, 5, 31), False),
        ("MI", date(2025, 1, 1), False),
        ("WV", date(2018, 4, 30), False),
        ("WV", date(2018, 5, 1), True),
        ("ND", date(2018, 12, 31), False),
        ("ND", date(2019, 1, 1), True),
        ("MT", date(2025, 9, 30), False),
        ("MT", date(2025, 10, 1), True),
        # Through 2026: every schedule still in force, Michigan's still lifted.
        *((state, date(2026, 12, 31), True) for state in SCHEDULING_STATES),
        ("MI", date(2026, 12, 31), False),
    ],
)
def test_state_gabapentin_schedules_apply_only_on_the_days_they_are_in_force(
    catalogue: Catalogue, state: str, day: date, controlled: bool
) -> None:
    decision = catalogue.schedule_on("gabapentin-capsule", state=state, on=day)

    assert decision.controlled is controlled
    assert decision.jurisdiction == (state if controlled else "federal")


def test_each_gabapentin_row_cites_its_own_state_register() -> None:
    rows = [row for row in packaged_json()["state_overrides"] if row["ingredient"] == "gabapentin"]

    assert {row["state"] for row in rows} == set(GABAPENTIN_REGISTERS)
    for row in rows:
        assert GABAPENTIN_REGISTERS[row["state"]] in row["source"], row["state"]
        assert row["schedule"] == "V"


@pytest.mark.parametrize("state", PDMP_ONLY_STATES)
def test_gabapentin_is_not_scheduled_where_it_is_only_reported_to_the_pdmp(
    catalogue: Catalogue, state: str
) -> None:
    for day in (date(2019, 6, 1), date(2026, 12, 31)):
        decision = catalogue.schedule_on("gabapentin-capsule", state=state, on=day)
        assert not decision.controlled, (state, day)


def test_a_state_schedule_never_lowers_the_federal_one(catalogue: Catalogue) -> None:
    decision = catalogue.schedule_on("alprazolam-tablet", state="KY", on=ORDER_DAY)

    assert (decision.schedule, decision.jurisdiction) == (Schedule.IV, "federal")


def test_the_state_code_may_be_lowercase(catalogue: Catalogue) -> None:
    decision = catalogue.schedule_on("gabapentin-capsule", state="ky", on=ORDER_DAY)

    assert decision.jurisdiction == "KY"


def test_an_unknown_state_code_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="Kentucky"):
        catalogue.schedule_on("gabapentin-capsule", state="Kentucky", on=ORDER_DAY)


def test_a_datetime_is_refused_because_the_order_day_is_local(catalogue: Catalogue) -> None:
    with pytest.raises(TypeError):
        catalogue.schedule_on("gabapentin-capsule", state="KY", on=datetime(2025, 3, 1, 12))


def test_unknown_product_raises_key_error(catalogue: Catalogue) -> None:
    assert catalogue.get("no-such-product") is None
    with pytest.raises(KeyError):
        catalogue.schedule_on("no-such-product", state=None, on=ORDER_DAY)


@pytest.mark.parametrize("state", [None, "OH", "KY"])
def test_unclassified_product_is_treated_as_controlled(
    catalogue: Catalogue, state: str | None
) -> None:
    horizant = catalogue.get("gabapentin-enacarbil-er-tablet")
    assert horizant is not None
    assert horizant.unclassified

    decision = catalogue.schedule_on(horizant.id, state=state, on=ORDER_DAY)

    assert decision.controlled
    assert decision.basis == "unclassified: treated as controlled"


# --- search -----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["Xanax", "xanax", "XANAX", "  xAnAx "])
def test_search_finds_alprazolam_by_brand_case_insensitively(
    catalogue: Catalogue, query: str
) -> None:
    results = catalogue.search(query)

    assert results[0].id == "alprazolam-tablet"
    assert "alprazolam-er-tablet" in ids(results)


def test_search_finds_by_prefix(catalogue: Catalogue) -> None:
    assert catalogue.search("sertr")[0].id == "sertraline-tablet"


def test_search_finds_by_ingredient_name(catalogue: Catalogue) -> None:
    assert "lisdexamfetamine-capsule" in ids(catalogue.search("lisdexamfetamine"))


def test_search_finds_common_misspellings(catalogue: Catalogue) -> None:
    assert catalogue.search("adderal")[0].id == "amphetamine-mixed-salts-tablet"
    assert catalogue.search("seroquil")[0].id == "quetiapine-tablet"


def test_search_puts_prefix_matches_before_matches_inside_a_word(catalogue: Catalogue) -> None:
    found = ids(catalogue.search("oxy", limit=100))
    prefix = [i for i in found if i.startswith(("oxycodone", "oxymorphone"))]
    inside = [i for i in found if i.startswith("hydroxyzine")]

    assert prefix
    assert inside
    assert max(map(found.index, prefix)) < min(map(found.index, inside))


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("alprazolam", "alprazolam-tablet"),
        ("clonazepam", "clonazepam-tablet"),
        ("zolpidem", "zolpidem-tablet"),
        ("methylphenidate", "methylphenidate-tablet"),
    ],
)
def test_search_puts_the_plain_product_before_its_variants(
    catalogue: Catalogue, query: str, first: str
) -> None:
    found = [p.id for p in catalogue.search(query)]
    assert found[0] == first
    assert len(found) > 1  # the variants are still there, after it


@pytest.mark.parametrize(
    ("generic", "brand", "plain", "variant"),
    [
        ("cyclobenzaprine", "Flexeril", "cyclobenzaprine-tablet", "cyclobenzaprine-er-capsule"),
        ("tizanidine", "Zanaflex", "tizanidine-tablet", "tizanidine-capsule"),
        ("methocarbamol", "Robaxin", "methocarbamol-tablet", None),
        ("baclofen", "Lioresal", "baclofen-tablet", "baclofen-oral-solution"),
        ("metaxalone", "Skelaxin", "metaxalone-tablet", None),
        ("orphenadrine", "Norflex", "orphenadrine-er-tablet", None),
        ("chlorzoxazone", "Lorzone", "chlorzoxazone-tablet", None),
        ("dantrolene", "Dantrium", "dantrolene-capsule", None),
        ("carisoprodol", "Soma", "carisoprodol-tablet", None),
        ("gepirone", "Exxua", "gepirone-er-tablet", None),
        ("isocarboxazid", "Marplan", "isocarboxazid-tablet", None),
        ("desipramine", "Norpramin", "desipramine-tablet", None),
        ("escitalopram", "Lexapro", "escitalopram-tablet", "escitalopram-oral-solution"),
        ("citalopram", "Celexa", "citalopram-tablet", "citalopram-oral-solution"),
        ("sertraline", "Zoloft", "sertraline-tablet", "sertraline-oral-concentrate"),
        ("olanzapine", "Zyprexa", "olanzapine-tablet", "olanzapine-pamoate-er-injection"),
        ("aripiprazole", "Abilify", "aripiprazole-tablet", "aripiprazole-lauroxil-er-injection"),
        ("haloperidol", "Haldol", "haloperidol-tablet", "haloperidol-lactate-injection"),
        ("clozapine", "Clozaril", "clozapine-tablet", "clozapine-oral-suspension"),
        ("asenapine", "Saphris", "asenapine-sl-tablet", "asenapine-patch"),
        ("thioridazine", "Mellaril", "thioridazine-tablet", None),
        ("trifluoperazine", "Stelazine", "trifluoperazine-tablet", None),
        ("pimozide", "Orap", "pimozide-tablet", None),
        ("dexmedetomidine", "Igalmi", "dexmedetomidine-sl-film", None),
        ("lamotrigine", "Lamictal", "lamotrigine-tablet", "lamotrigine-odt"),
        ("carbamazepine", "Tegretol", "carbamazepine-tablet", "carbamazepine-er-tablet"),
        ("oxcarbazepine", "Trileptal", "oxcarbazepine-tablet", "oxcarbazepine-er-tablet"),
        ("topiramate", "Topamax", "topiramate-tablet", "topiramate-er-capsule"),
        ("clonidine", "Catapres", "clonidine-tablet", "clonidine-patch"),
        ("metformin", "Glucophage", "metformin-tablet", "metformin-er-tablet"),
        ("amantadine", "Symmetrel", "amantadine-capsule", None),
        ("diphenhydramine", "Benadryl", "diphenhydramine-capsule", None),
        ("donepezil", "Aricept", "donepezil-tablet", None),
        ("memantine", "Namenda", "memantine-tablet", None),
        ("nalmefene", "Opvee", "nalmefene-nasal-spray", None),
    ],
)
def test_search_finds_each_neighbour_by_generic_and_brand_plain_product_first(
    catalogue: Catalogue, generic: str, brand: str, plain: str, variant: str | None
) -> None:
    by_generic = ids(catalogue.search(generic))

    assert by_generic[0] == plain
    if variant is not None:
        assert variant in by_generic
    assert ids(catalogue.search(brand))[0] == plain


@pytest.mark.parametrize(
    ("brand", "product_id"),
    [
        ("Amrix", "cyclobenzaprine-er-capsule"),
        ("Zyprexa Relprevv", "olanzapine-pamoate-er-injection"),
        ("Aristada", "aripiprazole-lauroxil-er-injection"),
        ("Aristada Initio", "aripiprazole-lauroxil-initio-injection"),
        ("Secuado", "asenapine-patch"),
        ("Versacloz", "clozapine-oral-suspension"),
        ("Adasuve", "loxapine-inhalation-powder"),
        ("Nuedexta", "dextromethorphan-quinidine-capsule"),
        ("Limbitrol", "chlordiazepoxide-amitriptyline-tablet"),
        ("Librax", "chlordiazepoxide-clidinium-capsule"),
        ("Oxtellar XR", "oxcarbazepine-er-tablet"),
        ("Trokendi XR", "topiramate-er-capsule"),
        ("Depakote Sprinkle", "divalproex-dr-sprinkle-capsule"),
        ("Catapres-TTS", "clonidine-patch"),
        ("Lamictal ODT", "lamotrigine-odt"),
        ("Glucophage XR", "metformin-er-tablet"),
    ],
)
def test_search_finds_each_variant_by_its_own_brand(
    catalogue: Catalogue, brand: str, product_id: str
) -> None:
    assert ids(catalogue.search(brand))[0] == product_id


def test_an_order_for_a_drug_missing_from_the_catalogue_is_still_treated_as_controlled(
    catalogue: Catalogue,
) -> None:
    # Carisoprodol with aspirin and codeine is a real product this catalogue does not carry.
    decision = schedule_for(
        catalogue, "carisoprodol-aspirin-codeine-tablet", state=None, on=ORDER_DAY
    )

    assert catalogue.get("carisoprodol-aspirin-codeine-tablet") is None
    assert decision.controlled
    assert decision.basis == "not in the catalogue: treated as controlled"


@pytest.mark.parametrize("query", ["", "   "])
def test_search_returns_nothing_for_an_empty_query(catalogue: Catalogue, query: str) -> None:
    assert catalogue.search(query) == []


def test_search_respects_the_limit(catalogue: Catalogue) -> None:
    assert len(catalogue.search("tablet", limit=5)) == 5
    assert len(catalogue.search("tablet")) == 20


def test_products_lists_each_product_once(catalogue: Catalogue) -> None:
    listed = ids(catalogue.products())

    assert len(listed) == len(set(listed)) >= 150


# --- validation -------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "version": "2026.01.01",
    "sources": [{"id": "cfr", "citation": "21 CFR part 1308"}],
    "ingredients": [
        {"id": "alprazolam", "name": "alprazolam", "federal_schedule": "IV", "cfr": "21 CFR 1"},
        {"id": "pregabalin", "name": "pregabalin", "federal_schedule": "V", "cfr": "21 CFR 2"},
        {"id": "sertraline", "name": "sertraline", "federal_schedule": None, "cfr": None},
    ],
    "products": [
        {
            "id": "alprazolam-tablet",
            "name": "Alprazolam tablet",
            "ingredients": ["alprazolam"],
            "form": "tablet",
            "strengths": ["1 mg"],
        },
        {
            "id": "pregabalin-capsule",
            "name": "Pregabalin capsule",
            "ingredients": ["pregabalin"],
            "form": "capsule",
            "strengths": ["75 mg"],
        },
    ],
    "state_overrides": [
        {
            "state": "NY",
            "ingredient": "pregabalin",
            "schedule": "III",
            "effective_from": "2020-01-01",
            "effective_until": None,
            "source": "Imaginary state rule",
        },
        {
            "state": "NY",
            "ingredient": "alprazolam",
            "schedule": "V",
            "effective_from": "2020-01-01",
            "source": "Imaginary lower state rule",
        },
    ],
}


def write_catalogue(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "medications.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_small_valid_file_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path, MINIMAL))

    assert catalogue.version == "2026.01.01"
    assert ids(catalogue.products()) == ["alprazolam-tablet", "pregabalin-capsule"]


def test_a_higher_state_schedule_takes_precedence_and_a_lower_one_does_not(
    tmp_path: Path,
) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path, MINIMAL))

    pregabalin = catalogue.schedule_on("pregabalin-capsule", state="NY", on=ORDER_DAY)
    alprazolam = catalogue.schedule_on("alprazolam-tablet", state="NY", on=ORDER_DAY)

    assert (pregabalin.schedule, pregabalin.jurisdiction) == (Schedule.III, "NY")
    assert (alprazolam.schedule, alprazolam.jurisdiction) == (Schedule.IV, "federal")


def broken(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with one field replaced; ``path`` is like "products.1.ingredients"."""
    document = copy.deepcopy(MINIMAL)
    *parents, leaf = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(leaf) if leaf.isdigit() else leaf] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (broken("products.1.ingredients", ["pregabalyn"]), "products[1] 'pregabalin-capsule'"),
        (broken("products.1.ingredients", ["pregabalyn"]), "unknown ingredient 'pregabalyn'"),
        (broken("ingredients.0.federal_schedule", "VI"), "ingredients[0] 'alprazolam'"),
        (broken("ingredients.1.cfr", None), "ingredients[1] 'pregabalin'"),
        (broken("products.0.id", "pregabalin-capsule"), "duplicate product id"),
        (broken("state_overrides.0.effective_from", "2020-13-01"), "state_overrides[0]"),
        (broken("state_overrides.0.effective_from", "2020-13-01"), "2020-13-01"),
        (broken("state_overrides.1.state", "New York"), "state_overrides[1]"),
        (broken("state_overrides.1.state", "ny"), "two-letter"),
        (broken("state_overrides.0.effective_until", "2019-01-01"), "effective_until"),
        (broken("state_overrides.0.ingredient", "gabapentin"), "unknown ingredient"),
        (
            broken("products.0.federal_override", {"schedule": "V", "cfr": "21 CFR 3"}),
            "products[0] 'alprazolam-tablet' federal_override",
        ),
        (broken("products.0.unclasified", True), "unknown field(s) unclasified"),
    ],
)
def test_validation_errors_name_the_bad_row(
    tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_catalogue(write_catalogue(tmp_path, document))


def test_invalid_json_is_reported_as_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "medications.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(ValueError, match="not valid JSON"):
        load_catalogue(path)
