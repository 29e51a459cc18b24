"""Configuration: every setting comes from a TELEHEALTH_ environment variable."""

from __future__ import annotations

import secrets
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DATA_DIR = Path.home() / ".local" / "share" / "telehealth"

# 21 CFR 1307.41 telemedicine flexibilities, Fourth Temporary Extension (90 FR 61301).
FEDERAL_FLEXIBILITY_END = date(2026, 12, 31)


class Environment(StrEnum):
    development = "development"
    production = "production"


class IceTransportPolicy(StrEnum):
    """`relay`: both call pages and the pre-call test use TURN only, so neither side
    learns the other's address (the patient's home)."""

    all = "all"
    relay = "relay"


TURN_TRANSPORTS = {"turn": ("udp", "tcp"), "turns": ("tcp",)}


def _check_turn_url(url: str) -> str:
    """turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=tcp]."""
    scheme, _, rest = url.partition(":")
    host_port, _, query = rest.partition("?")
    transport = query.removeprefix("transport=") if query else ""
    allowed = TURN_TRANSPORTS.get(scheme)
    if allowed is None or not host_port or host_port.startswith("/"):
        raise ValueError(
            f"{url!r} is not a TURN URL: use turn:host:3478, turn:host:3478?transport=tcp "
            "or turns:host:443?transport=tcp"
        )
    if query and (not query.startswith("transport=") or transport not in allowed):
        raise ValueError(f"{url!r}: {scheme}: URLs take ?transport={' or '.join(allowed)}")
    return url


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_", extra="ignore")

    env: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: str = ""
    data_dir: Path = DATA_DIR
    secret_key: str = ""
    # Keys the audit chain and signs its checkpoints; kept outside the database (docs/audit.md).
    audit_key: str = Field(default="", repr=False)
    # Signed checkpoints of the chain head: default beside the SQLite file or in data_dir.
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_seconds: float = Field(default=60, gt=0, le=24 * 3600)
    public_url: str = ""
    redis_url: str | None = None
    # Behind nginx: take the client address from X-Forwarded-For (audit source address).
    trust_proxy: bool = False
    stun_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    ice_transport_policy: IceTransportPolicy = IceTransportPolicy.all
    idle_logoff_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # However active, a session ends this long after sign-in (a stolen cookie expires).
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Sign-in throttle (telehealth/auth/throttle.py): failures of one username from one
    # address; of any usernames from one address; of one username from any address.
    max_failed_logins: int = Field(default=5, ge=1, le=100)
    address_max_failed_logins: int = Field(default=20, ge=1, le=10_000)
    username_max_failed_logins: int = Field(default=20, ge=1, le=10_000)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    join_attempts: int = Field(default=5, ge=1, le=100)
    # The number patients are told to call (after-visit summary, join refusals); optional.
    practice_phone: str | None = Field(default=None, max_length=40)
    # Controlled-substance policy (DOMAIN.md). Defaults are the strict Ryan Haight rule.
    in_person_lookback_days: int | None = Field(default=None, ge=1)
    covering_practitioner: bool = False
    buprenorphine_oud_pathway: bool = False
    va_pathway: bool = False
    federal_flexibility: bool = False
    initial_evaluation_minutes: int = Field(default=60, ge=5, le=480)
    follow_up_minutes: int = Field(default=30, ge=5, le=480)
    slot_step_minutes: int = Field(default=15, ge=5, le=120)
    precall_max_peers: int = Field(default=10, ge=1, le=1000)
    # Of those, how many one account may run at once (a further one ends its oldest).
    precall_peers_per_account: int = Field(default=2, ge=1, le=10)
    # Call-history writes (a join, a changed media state) one account may cause in one visit
    # per minute, across all its connections; beyond it the event is refused (rate_limited).
    signaling_writes_per_minute: int = Field(default=30, ge=1, le=10_000)
    log_level: str = "INFO"
    # Visit emails to patients (booked, moved, cancelled). Unset: no email is sent.
    # smtp://[user:password@]host[:port] (STARTTLS required unless on loopback) or smtps://.
    smtp_url: str | None = Field(default=None, repr=False)
    mail_from: str = ""
    # Measurement-based care: which questionnaires each visit type asks before the visit
    # (instrument ids from telehealth/measures/data/instruments.json; empty: none).
    measures_follow_up: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["phq9", "gad7"]
    )
    measures_initial_evaluation: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["phq9", "gad7"]
    )
    # A safety alert still open after this long is escalated to every administrator.
    safety_escalation_minutes: int = Field(default=15, ge=1, le=24 * 60)

    @field_validator(
        "stun_urls", "turn_urls", "measures_follow_up", "measures_initial_evaluation", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("turn_urls")
    @classmethod
    def _turn_urls(cls, value: list[str]) -> list[str]:
        return [_check_turn_url(url) for url in value]

    @field_validator("in_person_lookback_days", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _smtp_url(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        parts = urlsplit(str(value))
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:password@mail.example.org:587")
        return str(value)

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env is Environment.production and len(self.secret_key) < 32:
            raise ValueError(
                "TELEHEALTH_SECRET_KEY must be set to at least 32 characters in production"
            )
        if self.env is Environment.production and not self.audit_key:
            raise ValueError(
                "TELEHEALTH_AUDIT_KEY must be set to at least 32 characters in production "
                "(it keys the audit trail; keep it outside the database)"
            )
        if self.audit_key and len(self.audit_key) < 32:
            raise ValueError("TELEHEALTH_AUDIT_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _relay_needs_turn(self) -> Settings:
        if self.ice_transport_policy is IceTransportPolicy.relay and not (
            self.turn_urls and self.turn_secret
        ):
            raise ValueError(
                "TELEHEALTH_ICE_TRANSPORT_POLICY=relay needs TELEHEALTH_TURN_URLS and "
                "TELEHEALTH_TURN_SECRET: without a relay no call could connect"
            )
        return self

    @property
    def checkpoint_path(self) -> Path:
        """Where signed audit checkpoints are appended (TELEHEALTH_AUDIT_CHECKPOINT_FILE)."""
        if self.audit_checkpoint_file is not None:
            return self.audit_checkpoint_file
        sqlite_file = sqlite_path(self.sqlalchemy_url)
        if sqlite_file is not None:
            return sqlite_file.with_name(sqlite_file.name + ".audit-checkpoints.jsonl")
        return self.data_dir / "audit-checkpoints.jsonl"

    def chain_key(self) -> str:
        """The audit key: TELEHEALTH_AUDIT_KEY, or in development one generated once and
        kept in the data folder (like the secret key)."""
        if not self.audit_key:
            self.audit_key = _development_secret(self.data_dir, "audit_key")
        return self.audit_key

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'telehealth.sqlite3'}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or "settings"
            name = f"TELEHEALTH_{field.upper()}" if err["loc"] else "configuration"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None
    if not settings.secret_key:
        settings.secret_key = _development_secret(settings.data_dir, "secret_key")
    settings.chain_key()
    return settings


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases or an in-memory one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _development_secret(data_dir: Path, name: str) -> str:
    """Generate a secret once and keep it, so development sessions survive restarts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    return key
