"""Settings: defaults, where overrides come from, and one clear line when one is wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from callcenter.config import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative defaults (data/, recordings/) resolve under the test's own directory."""
    monkeypatch.chdir(tmp_path)


def test_defaults_keep_everything_under_the_data_dir() -> None:
    settings = load_settings()

    assert settings.data_dir == Path("data")
    assert settings.database_url == "sqlite+aiosqlite:///data/callcenter.db"
    assert settings.database_url.startswith("sqlite+aiosqlite:")
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.log_format == "text"
    assert settings.log_level == "INFO"
    assert not settings.secure_cookies


def test_moving_the_data_dir_moves_the_database(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "state"))

    settings = load_settings()

    assert settings.data_dir == tmp_path / "state"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'state' / 'callcenter.db'}"


def test_config_file_overrides_defaults_and_env_overrides_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        'log_format = "json"\nlog_level = "WARNING"\npublic_base_url = "https://cc.example.com/"\n'
    )
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config))
    monkeypatch.setenv("CALLCENTER_LOG_LEVEL", "DEBUG")

    settings = load_settings()

    assert settings.log_format == "json"  # the file beats config/default.toml
    assert settings.log_level == "DEBUG"  # the environment beats the file
    assert settings.public_base_url == "https://cc.example.com"
    assert settings.secure_cookies


def test_env_overrides_config_default_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_LOG_FORMAT", "json")
    monkeypatch.setenv("CALLCENTER_LOGIN_MAX_FAILURES", "7")

    settings = load_settings()

    assert settings.log_format == "json"
    assert settings.login_max_failures == 7


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://cc:pw@db.example:5433/cc", "postgresql+asyncpg://cc:pw@db.example:5433/cc"),
        ("postgresql+asyncpg://cc@db/cc", "postgresql+asyncpg://cc@db/cc"),
        ("postgresql+psycopg2://cc@db/cc", "postgresql+asyncpg://cc@db/cc"),
        ("sqlite:////var/lib/cc/cc.db", "sqlite+aiosqlite:////var/lib/cc/cc.db"),
    ],
)
def test_database_urls_are_pinned_to_the_async_drivers(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", given)
    assert load_settings().database_url == expected


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CALLCENTER_DATABASE_URL", "not a url", "CALLCENTER_DATABASE_URL"),
        ("CALLCENTER_DATABASE_URL", "mysql://u@h/db", "CALLCENTER_DATABASE_URL"),
        ("CALLCENTER_PUBLIC_BASE_URL", "cc.example.com", "CALLCENTER_PUBLIC_BASE_URL"),
        ("CALLCENTER_PUBLIC_BASE_URL", "https://", "CALLCENTER_PUBLIC_BASE_URL"),
        ("CALLCENTER_SMTP_PORT", "70000", "CALLCENTER_SMTP_PORT"),
        ("CALLCENTER_LOG_FORMAT", "xml", "CALLCENTER_LOG_FORMAT"),
        ("CALLCENTER_TIMEZONE", "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
        ("CALLCENTER_VOICE_TOKEN_SECONDS", "90000", "CALLCENTER_VOICE_TOKEN_SECONDS"),
        ("CALLCENTER_CHAT_ALLOWED_ORIGINS", '["https://shop.example/page"]', "not an origin"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert named in message


def test_an_unknown_key_in_a_config_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text('log_level = "INFO"\ndatabse_url = "sqlite:///typo.db"\n')
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config))

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert "databse_url" in message


def test_generated_secret_key_is_private_and_stable(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"

    first = Settings(data_dir=data_dir).session_secret()
    second = Settings(data_dir=data_dir).session_secret()

    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first == second
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path / "other").session_secret() != first


def test_configured_secret_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", secret_key="configured-key-" + "k" * 20)
    assert settings.session_secret() == "configured-key-" + "k" * 20
    assert not (tmp_path / "d" / "secret_key").exists()
