"""Every page, for every role, checked with axe-core (installed from npm as a development
dependency) in Chromium: no WCAG 2.1 A or AA violation at all, whatever its impact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.builders import Cast, book_telehealth, login, make_visit
from tests.e2e.pages import sign_in

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
      id: v.id, help: v.help, where: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
}"""


async def violations(page: Any) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    return found


async def signed_in(new_page: Any, username: str) -> Any:
    # axe is added as a script the page did not ship: only this test's context may run it.
    return await sign_in(await new_page(bypass_csp=True), username)


@pytest.fixture
async def visits(client: Any, sessionmaker: Any, cast: Cast, clock: Any) -> dict[str, Any]:
    clock.set(datetime(2030, 3, 5, 15, 0, tzinfo=UTC))  # a Tuesday, 10:00 in New York
    booked = await book_telehealth(client, sessionmaker, cast, clock.now + timedelta(minutes=10))
    live = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(hours=3),
        status="waiting",
        location_state="NY",
    )
    # Alice's answers on the live visit raise a safety alert, so the pages show the course
    # of her scores, its chart and the alert panels.
    await login(client, cast.alice)
    answers = {str(i): 1 for i in range(1, 10)}
    answered = await client.put(
        f"/api/visits/{live}/questionnaires/phq9", json={"answers": answers, "submit": True}
    )
    assert answered.status == 200, await answered.text()
    summarised = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=1),
        status="finished",
        location_state="NY",
    )
    await login(client, cast.bob)
    await client.put(f"/api/visits/{summarised}/note", json={"plan": "Walk daily.", "version": 0})
    assert (await client.post(f"/api/visits/{summarised}/note/sign")).status == 200
    return {"booked": booked, "live": live, "summarised": summarised}


async def test_pages_have_no_serious_accessibility_violations(
    new_page: Any, client: Any, cast: Cast, visits: dict[str, Any]
) -> None:
    assert AXE.exists(), "axe-core is missing: run make install (npm ci in web/)"
    found: dict[str, list[dict[str, Any]]] = {}

    anonymous = await new_page(bypass_csp=True)
    for path in ("/login", f"/join/{visits['booked']['token']}"):
        await anonymous.goto(path)
        found[path] = await violations(anonymous)
    await anonymous.get_by_label("Date of birth").fill("1999-01-01")
    await anonymous.get_by_role("button", name="Continue").click()
    await anonymous.locator("#join-error").wait_for()
    found["/join/{token} refused"] = await violations(anonymous)

    patient = await new_page(bypass_csp=True)
    await patient.goto(f"/join/{visits['booked']['token']}")
    await patient.get_by_label("Date of birth").fill("1990-05-17")
    await patient.get_by_role("button", name="Continue").click()
    await patient.wait_for_url(f"**/visits/{visits['booked']['id']}/questionnaires")
    await patient.get_by_role("radio", name="Several days").first.wait_for()
    # The crisis resources too, as a patient who answered question 9 sees them.
    await patient.evaluate("document.getElementById('crisis').hidden = false")
    found["/visits/{id}/questionnaires"] = await violations(patient)
    await patient.get_by_role("link", name="Answer later and go to the visit now").click()
    await patient.wait_for_url(f"**/visit/{visits['booked']['id']}")
    devices_work = patient.get_by_role("button", name="My camera and microphone work")
    await devices_work.wait_for()
    found["/visit/{id} device check"] = await violations(patient)
    await devices_work.click()
    await patient.get_by_label("Which state are you in right now?").wait_for()
    found["/visit/{id} check-in"] = await violations(patient)
    await patient.goto("/precall")
    found["/precall"] = await violations(patient)

    for username, paths in {
        "alice": [
            "/patient",
            f"/visit/{visits['summarised']}",
            f"/visits/{visits['summarised']}/summary",
        ],
        "bob": [
            "/prescriber",
            "/alerts",
            f"/visits/{visits['live']}/record",
            f"/visits/{visits['live']}/call",
            f"/prescribers/{cast.bob.id}/availability",
            f"/visits/new?patient_id={cast.alice.id}&modality=in_person",
            "/prescriber/visits",
        ],
        "sam": ["/scheduler"],
        "ada": ["/admin", "/admin/audit", "/alerts"],
    }.items():
        page = await signed_in(new_page, username)
        for path in paths:
            await page.goto(path)
            await page.wait_for_load_state("load")
            await page.wait_for_timeout(800)  # let the page's modules fill it in
            found[f"{path} ({username})"] = await violations(page)

    # A confirmation dialog, open (the page behind it is inert while it is).
    admin = await signed_in(new_page, "ada")
    await admin.get_by_role("button", name="Deactivate charlie").click()
    await admin.get_by_role("dialog").wait_for()
    found["/admin deactivate dialog"] = await violations(admin)

    prescriber = await signed_in(new_page, "bob")
    await prescriber.goto(f"/visits/{visits['live']}/record")
    await prescriber.wait_for_load_state("networkidle")  # the order form's module is ready
    await prescriber.get_by_role("combobox", name="Medication").fill("sertra")
    await prescriber.get_by_role("option", name="Sertraline").first.click()
    await prescriber.get_by_role("button", name="Place order").click()
    await prescriber.get_by_role("dialog", name="Review the order").wait_for()
    found["order review dialog"] = await violations(prescriber)

    assert {page: v for page, v in found.items() if v} == {}
