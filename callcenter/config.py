"""The settings object: one typed place for every knob, read once at start-up.

Sources, lowest to highest priority: the defaults below, `config/default.toml`, the TOML
file named by `CALLCENTER_CONFIG` (if any), then `CALLCENTER_*` environment variables.
Nothing reads settings at import time; `load_settings()` is called by the CLI and the ASGI
entry point, and tests build `Settings(...)` directly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_DIR / "config" / "default.toml"
ENV_PREFIX = "CALLCENTER_"

# A placeholder, public by nature: webhooks signed with it prove nothing.
DEFAULT_AUTH_TOKEN = "change-me"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# The async drivers we run on, keyed by the backend name in a URL.
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


class Settings(BaseSettings):
    """Everything the app, the worker and the CLI need to know about their surroundings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Path("data")
    database_url: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr(DEFAULT_AUTH_TOKEN)
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: SecretStr | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_phone_number: str | None = None
    # The TwiML App an agent's softphone places outgoing calls through (optional), and how
    # long a softphone's Access Token lasts (Twilio allows a day at most).
    twilio_twiml_app_sid: str | None = None
    voice_token_seconds: int = Field(default=3600, ge=60, le=86400)

    ivr_flow_path: Path = PROJECT_DIR / "ivr" / "default.yaml"
    agent_ring_seconds: int = Field(default=20, ge=5, le=120)
    # An agent who lets this many offers in a row ring out (or rejects them) is put on a
    # break with the reason "missed offers", so callers stop ringing an empty desk.
    missed_offers_limit: int = Field(default=3, ge=1, le=100)
    # A callback rings the customer this long, up to this many times, this far apart.
    callback_ring_seconds: int = Field(default=30, ge=5, le=120)
    callback_attempts: int = Field(default=3, ge=1, le=10)
    callback_retry_seconds: int = Field(default=120, ge=10, le=86400)
    # An available agent whose softphone page stopped sending heartbeats this long ago is
    # set offline by the watchdog (the page sends one every 20 s).
    heartbeat_grace_seconds: int = Field(default=90, ge=30, le=3600)
    # A webhook still working after this long answers the caller with the apology instead
    # (Twilio gives up after 15 s, and a caller should never sit in silence that long).
    webhook_deadline_seconds: float = Field(default=4.0, gt=0, le=14)
    # The centre's own time zone (IANA name): where "today" starts on the live board.
    timezone: str = "UTC"
    # Where a phone number typed without a country code is read (ISO 3166 code): with
    # "US", (415) 555-0100 is +14155550100; with "GB", 020 7946 0000 is +442079460000.
    phone_region: str = "US"
    # How long a statement waits for a lock held elsewhere (SQLite's busy timeout,
    # PostgreSQL's lock_timeout) before it fails: below the webhook deadline.
    database_lock_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    recordings_dir: Path = Path("recordings")
    vosk_model_path: Path | None = None

    # Email. The support address takes mail for the default group and is the From of
    # replies (a group's own address, set on the desk page, takes the group's mail). The
    # listener (aiosmtpd) runs with the app when both its host and port are set; replies go
    # out through the relay at smtp_host.
    support_address: str = "support@example.com"
    smtp_listen_host: str | None = None
    smtp_listen_port: int | None = Field(default=None, ge=0, le=65535)
    # The listener refuses a message larger than this; an attachment larger than the
    # attachment limit is dropped (named on the event) and the rest kept.
    email_message_limit_bytes: int = Field(default=25_000_000, ge=10_000)
    email_attachment_limit_bytes: int = Field(default=10_000_000, ge=1_000)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    # Web chat. The widget's socket takes visitors only from these sites' pages (origins as
    # browsers send them: "https://shop.example.com"); chats wait in the chat queue (made on
    # the first chat, open to every agent). A visitor's message is cut at the size limit,
    # and a visitor may send so many messages a minute.
    chat_allowed_origins: list[str] = Field(default_factory=list)
    chat_queue: str = "chat"
    chat_message_limit_chars: int = Field(default=2000, ge=1, le=50_000)
    chat_messages_per_minute: int = Field(default=30, ge=1)

    worker_backend: Literal["sqlite", "redis"] = "sqlite"
    # local: events reach this process's pages; redis: every instance's (see events.py).
    events_backend: Literal["local", "redis"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    login_address_attempts: int = Field(default=30, ge=1)
    login_address_email_attempts: int = Field(default=5, ge=1)
    login_throttle_seconds: int = Field(default=300, ge=1)
    session_max_age_seconds: int = Field(default=12 * 3600, ge=60)
    session_idle_seconds: int = Field(default=3600, ge=120)
    trusted_proxies: int = Field(default=0, ge=0, le=10)

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        """Accept plain `postgresql://` / `sqlite:///` URLs and pin them to our async drivers."""
        if value == "":
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"{value!r} is not a database URL (expected e.g. "
                "sqlite+aiosqlite:///data/callcenter.db or postgresql+asyncpg://user@host/db)"
            ) from None
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError(f"{backend!r} databases are not supported (use sqlite or postgresql)")
        url = url.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
        return url.render_as_string(hide_password=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a country code phone numbers know (e.g. US, GB)")
        return value.upper()

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Webhook signatures are computed over this URL, so it must be exact and absolute."""
        if not value.startswith(("http://", "https://")) or value[-3:] == "://":
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("chat_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """Origins as browsers send them: a scheme and a host (and a port), nothing else."""
        found = []
        for origin in value:
            parts = urlsplit(origin.strip().rstrip("/"))
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(
                    f"{origin!r} is not an origin (https://shop.example.com, with no path)"
                )
            host = parts.netloc.lower()
            default_port = {"http": ":80", "https": ":443"}[parts.scheme]
            # Browsers leave the default port out of the Origin they send.
            found.append(f"{parts.scheme}://{host.removesuffix(default_port)}")
        return found

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        """Fill in what depends on the data dir, so one setting moves all local state."""
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'callcenter.db'}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [DEFAULT_CONFIG_FILE]
        if extra := os.environ.get(f"{ENV_PREFIX}CONFIG"):
            files.append(Path(extra))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=[f for f in files if f.exists()])
        return (init_settings, env_settings, toml)

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` whenever users reach us over TLS, even behind a proxy."""
        return self.public_base_url.startswith("https://")

    def serving_problem(self) -> str | None:
        """Why this install must not answer the outside world yet, or None.

        Twilio signs webhooks with the auth token; with the shipped placeholder anyone could
        forge them. Only an app reachable on loopback alone may run with it.
        """
        host = urlsplit(self.public_base_url).hostname or ""
        exposed = host not in LOOPBACK_HOSTS
        if exposed and self.twilio_auth_token.get_secret_value() == DEFAULT_AUTH_TOKEN:
            return (
                f"setting {ENV_PREFIX}TWILIO_AUTH_TOKEN: still the placeholder; set your Twilio "
                "auth token (webhook signatures are checked with it)"
            )
        return None

    def session_secret(self) -> str:
        """The key that signs session cookies: configured, or made once and kept in the data dir.

        Keeping a generated key on disk means a single-machine install works out of the box and
        logins survive restarts; several instances must share one configured key.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Made with mode 0600 from the start: never readable by others, even briefly.
            with contextlib.suppress(FileExistsError):
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                with os.fdopen(descriptor, "w") as file:
                    file.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def describe_error(error: ValidationError) -> str:
    """Turn pydantic's report into one line that names the environment variable to fix."""
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown setting {name!r} in a config file"
    return f"setting {ENV_PREFIX}{name.upper()} ({name}): {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, raising SettingsError with one readable line when they are wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_error(error)) from None
