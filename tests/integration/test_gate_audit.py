"""A gate refusal is one audit entry (the decision), not a decision plus a generic denial."""

from tests.builders import ALPRAZOLAM, Cast, alice_in_a_call_with_bob, login


async def test_a_refused_order_is_audited_once_as_the_gate_decision(
    new_client, cast: Cast, sessionmaker, clock
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    bob, ada = await new_client(), await new_client()
    await login(bob, cast.bob)
    response = await bob.post(
        f"/api/visits/{visit_id}/orders",
        json=ALPRAZOLAM,
    )
    assert response.status == 403
    request_id = response.headers["X-Request-ID"]
    await login(ada, cast.ada)
    entries = (await (await ada.get(f"/api/audit?user_id={cast.bob.id}")).json())["entries"]
    for_request = [e for e in entries if e["request_id"] == request_id]
    assert [(e["action"], e["resource_type"]) for e in for_request] == [
        ("access-denied", "gate_decision")
    ]
    assert for_request[0]["detail"]["decision"] == "deny"
