from tests.builders import Cast, login


async def test_a_prescriber_signs_in_and_sees_who_they_are(client, cast: Cast):
    await login(client, cast.bob)
    response = await client.get("/api/me")
    assert response.status == 200
    body = await response.json()
    assert body["username"] == "bob"
    assert body["role"] == "prescriber"
