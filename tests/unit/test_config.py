"""Configuration: read from TELEHEALTH_ variables; a bad value stops start-up by name."""

from datetime import date

import pytest

from telehealth.config import ConfigError, load_settings
from telehealth.visits.gate.policy import GatePolicy


def test_a_bad_port_names_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_PORT", "eighty")
    with pytest.raises(ConfigError, match="TELEHEALTH_PORT"):
        load_settings()


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_ENV", "production")
    monkeypatch.delenv("TELEHEALTH_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="TELEHEALTH_SECRET_KEY"):
        load_settings()


def test_development_generates_a_secret_once_and_keeps_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TELEHEALTH_SECRET_KEY", raising=False)
    first = load_settings().secret_key
    assert len(first) >= 32
    assert load_settings().secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_lists_and_urls_are_read_from_plain_strings(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_TURN_URLS", "turn:127.0.0.1:3478, turns:127.0.0.1:5349")
    monkeypatch.setenv("TELEHEALTH_PUBLIC_URL", "https://clinic.example/")
    monkeypatch.setenv("TELEHEALTH_IN_PERSON_LOOKBACK_DAYS", "")
    settings = load_settings()
    assert settings.turn_urls == ["turn:127.0.0.1:3478", "turns:127.0.0.1:5349"]
    assert settings.base_url == "https://clinic.example"
    assert settings.secure_cookies
    assert settings.in_person_lookback_days is None
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")


def test_a_public_url_without_a_scheme_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_PUBLIC_URL", "clinic.example")
    with pytest.raises(ConfigError, match="TELEHEALTH_PUBLIC_URL"):
        load_settings()


def test_the_federal_flexibility_is_void_after_its_end_date(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_FEDERAL_FLEXIBILITY", "true")
    policy = GatePolicy.from_settings(load_settings())
    assert policy.flexibility_in_force(date(2026, 12, 31))
    assert not policy.flexibility_in_force(date(2027, 1, 1))


def test_a_mail_server_address_must_be_an_smtp_url_and_its_password_is_never_shown(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEHEALTH_SMTP_URL", "mail.clinic.example:587")
    with pytest.raises(ConfigError, match="TELEHEALTH_SMTP_URL"):
        load_settings()
    monkeypatch.setenv("TELEHEALTH_SMTP_URL", "smtp://clinic:s3cret@mail.clinic.example:587")
    settings = load_settings()
    assert settings.smtp_url == "smtp://clinic:s3cret@mail.clinic.example:587"
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("TELEHEALTH_SMTP_URL", "")
    assert load_settings().smtp_url is None


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("smtp://mail.clinic.example:587", (False, True)),  # STARTTLS or nothing
        ("smtps://mail.clinic.example:465", (True, False)),
        ("smtp://127.0.0.1:25", (False, None)),  # a local relay may take it in the clear
        ("smtp://localhost:25", (False, None)),
    ],
)
def test_mail_leaves_the_machine_only_over_tls(url, mode):
    from urllib.parse import urlsplit

    from telehealth.notify.mailer import tls_mode

    parts = urlsplit(url)
    assert tls_mode(parts.scheme, parts.hostname) == mode
