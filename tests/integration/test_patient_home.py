"""The patient's home page links to their signed after-visit summaries, and only those."""

from datetime import timedelta

from tests.builders import Cast, login, make_visit


async def test_a_signed_summary_appears_on_the_patients_home_and_nowhere_else(
    new_client, cast: Cast, sessionmaker, clock
):
    visit_id = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=10),
        status="in_progress",
        location_state="NY",
    )
    link = f"/visits/{visit_id}/summary"
    alice, bob, dana = await new_client(), await new_client(), await new_client()
    await login(alice, cast.alice)
    await login(bob, cast.bob)
    await login(dana, cast.dana)

    saved = await bob.put(
        f"/api/visits/{visit_id}/note",
        json={
            "subjective": "Sleeping better.",
            "objective": "",
            "assessment": "Improving",
            "plan": "Continue sertraline 100 mg.",
            "version": 0,
        },
    )
    assert saved.status == 200, await saved.text()
    assert link not in await (await alice.get("/patient")).text()  # a draft is not a summary

    signed = await bob.post(f"/api/visits/{visit_id}/note/sign", json={})
    assert signed.status == 200, await signed.text()
    home = await (await alice.get("/patient")).text()
    assert link in home
    summary = await alice.get(link)
    assert summary.status == 200
    assert "Continue sertraline 100 mg." in await summary.text()
    assert link not in await (await dana.get("/patient")).text()
    assert (await dana.get(link)).status == 404
