"""The sign-in throttle's counting, without a server: windows, attempts in flight, unlock."""

from datetime import UTC, datetime, timedelta

from telehealth.auth.throttle import Attempt, Refusal, Scope, SignInThrottle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def throttle(**limits: int) -> SignInThrottle:
    return SignInThrottle(
        pair_limit=limits.get("pair", 5),
        address_limit=limits.get("address", 20),
        username_limit=limits.get("username", 20),
        lockout=timedelta(minutes=15),
        max_keys=limits.get("max_keys", 100_000),
    )


def fail(t: SignInThrottle, address: str, username: str, when: datetime) -> Refusal | None:
    attempt = t.begin(address, username, when)
    assert isinstance(attempt, Attempt)
    return t.failed(attempt, when)


def test_failures_older_than_the_window_no_longer_count():
    t = throttle()
    for _ in range(4):
        assert fail(t, "10.0.0.1", "bob", T0) is None
    later = T0 + timedelta(minutes=16)
    for _ in range(4):
        assert fail(t, "10.0.0.1", "bob", later) is None
    lock = fail(t, "10.0.0.1", "bob", later)
    assert lock is not None and lock.scope is Scope.pair


def test_guesses_in_flight_count_so_a_burst_cannot_outrun_the_limit():
    t = throttle()
    started = [t.begin("10.0.0.1", "bob", T0) for _ in range(8)]
    assert sum(isinstance(a, Attempt) for a in started) == 5
    assert all(isinstance(a, Refusal) and a.scope is Scope.pair for a in started[5:])


def test_a_success_takes_its_attempt_back_and_clears_the_names_failures():
    t = throttle()
    for _ in range(4):
        fail(t, "10.0.0.1", "bob", T0)
    attempt = t.begin("10.0.0.1", "bob", T0)
    assert isinstance(attempt, Attempt)
    t.succeeded(attempt)
    for _ in range(4):
        assert fail(t, "10.0.0.1", "bob", T0) is None


def test_an_unlock_ends_every_lock_of_that_name_and_no_other():
    t = throttle()
    for address in ("10.0.0.1", "10.0.0.2"):
        for name in ("bob", "carol"):
            for _ in range(5):
                fail(t, address, name, T0)
    assert t.locked_usernames(T0) == {"bob", "carol"}
    assert t.unlock("bob") is True
    assert t.locked_usernames(T0) == {"carol"}
    assert isinstance(t.begin("10.0.0.1", "bob", T0), Attempt)


def test_a_spray_of_made_up_names_keeps_memory_bounded_and_locks_in_force():
    t = throttle(address=10**6, username=10**6, max_keys=1000)
    for _ in range(5):
        fail(t, "10.0.0.9", "ada", T0)
    later = T0 + timedelta(minutes=1)
    for n in range(5000):
        attempt = t.begin(f"10.1.{n // 250}.{n % 250}", f"made.up{n}", later)
        assert isinstance(attempt, Attempt)
        t.failed(attempt, later)
    assert len(t._counts) <= 1000  # the bound itself is what this test is about
    assert isinstance(t.begin("10.0.0.9", "ada", later), Refusal)
