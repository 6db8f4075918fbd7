"""Settings from the environment: clear one-line errors naming the variable, and no secret in them."""

from pathlib import Path

import pytest

from bot.config import OFFICIAL_API, Settings, SettingsError, load_settings

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests, and no .env in the working directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def load_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    return str(exc.value)


def test_token_is_optional_until_a_command_needs_telegram(monkeypatch) -> None:
    settings = load_settings()  # `migrate` works without a channel token
    assert settings.bot_token is None
    with pytest.raises(SettingsError) as exc:
        settings.token()
    assert str(exc.value) == "Configuration error: BOT_TOKEN is required to talk to Telegram (see .env.example)"
    monkeypatch.setenv("BOT_TOKEN", "  ")
    assert load_settings().bot_token is None
    with pytest.raises(SettingsError) as exc:
        load_settings().channels()
    assert "no channel is configured: set BOT_TOKEN (Telegram) and/or ZALO_BOT_TOKEN (Zalo)" in str(exc.value)


def test_each_channel_with_a_token_is_served(monkeypatch) -> None:
    monkeypatch.setenv("ZALO_BOT_TOKEN", "1234567890:zalo-secret")
    assert load_settings().channels() == ["zalo"]
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-token")
    assert load_settings().channels() == ["telegram", "zalo"]
    message = load_error(monkeypatch, ZALO_BOT_TOKEN="not a token")
    assert message.startswith("Configuration error: ZALO_BOT_TOKEN must look like <bot id>:<secret>")
    assert "not a token" not in message


def test_the_env_example_placeholder_is_refused(monkeypatch) -> None:
    placeholder = next(line.partition("=")[2] for line in EXAMPLE.read_text().splitlines()
                       if line.startswith("BOT_TOKEN="))
    error = load_error(monkeypatch, BOT_TOKEN=placeholder)
    assert error == ("Configuration error: BOT_TOKEN is still the placeholder from .env.example: "
                     "put your token from @BotFather")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://kc:pw@db.example.org:6543/kc", "postgresql+asyncpg://kc:pw@db.example.org:6543/kc"),
        ("postgresql://kc@db/kc", "postgresql+asyncpg://kc@db/kc"),
        ("postgresql+asyncpg://kc@db/kc", "postgresql+asyncpg://kc@db/kc"),
        ("postgres://kc@db/kc?sslmode=require", "postgresql+asyncpg://kc@db/kc?ssl=require"),
        ("sqlite:///./data/kc.db", "sqlite+aiosqlite:///./data/kc.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_database_urls_as_platforms_write_them_use_the_async_drivers(monkeypatch, given: str, used: str) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == used


@pytest.mark.parametrize("url", ["mysql://kc:secretpw@db/kc", "garbage-secretpw", "postgresql+psycopg2://u:secretpw@db/kc"])
def test_unsupported_database_urls_are_one_line_without_the_password(monkeypatch, url: str) -> None:
    error = load_error(monkeypatch, DATABASE_URL=url)
    assert error == ("Configuration error: DATABASE_URL must be a PostgreSQL (postgresql://…, postgres://…) "
                     "or SQLite (sqlite:///…) URL")


def test_a_database_url_that_does_not_parse_is_one_line(monkeypatch) -> None:
    error = load_error(monkeypatch, DATABASE_URL="postgresql://u:secretpw@db:port/kc")
    assert error == "Configuration error: DATABASE_URL is not a valid database URL"


def test_settings_error_stops_the_program() -> None:
    assert issubclass(SettingsError, SystemExit)


@pytest.mark.parametrize("token", ["abc", "abc:supersecretvalue", ":supersecretvalue", "123456:", "supersecretvalue"])
def test_invalid_token_names_the_variable_but_not_the_value(monkeypatch, token: str) -> None:
    error = load_error(monkeypatch, BOT_TOKEN=token)
    assert error.startswith("Configuration error: BOT_TOKEN ")
    assert "\n" not in error
    assert "supersecretvalue" not in error
    if token == "abc":
        assert "abc" not in error.removeprefix("Configuration error: BOT_TOKEN ")


def test_token_with_whitespace_inside_is_refused_without_echoing_it(monkeypatch) -> None:
    error = load_error(monkeypatch, BOT_TOKEN="123:supersecretvalue x")
    assert error.startswith("Configuration error: BOT_TOKEN ")
    assert "supersecretvalue" not in error


def test_valid_token_is_trimmed_and_kept_secret(monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", f"  {TOKEN} ")
    settings = load_settings()
    assert settings.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_admin_ids_parse(monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", "1, 2,3")
    assert load_settings().admin_ids == {1, 2, 3}
    monkeypatch.setenv("ADMIN_IDS", "42")
    assert load_settings().admin_ids == {42}
    monkeypatch.setenv("ADMIN_IDS", "")
    assert load_settings().admin_ids == frozenset()


def test_bad_admin_ids_name_the_variable(monkeypatch) -> None:
    error = load_error(monkeypatch, BOT_TOKEN=TOKEN, ADMIN_IDS="1,x")
    assert error.startswith("Configuration error: ADMIN_IDS ")
    assert "\n" not in error


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIMEZONE", "Mars/Phobos"),
        ("TIMEZONE", "../../etc/passwd"),
        ("DEFAULT_LOCALE", "fr"),
        ("PROVINCE_CODE", "999"),
        ("PROVINCE_CODE", "abc"),
        ("TELEGRAM_API_BASE", "ftp://example.org"),
        ("SEND_RATE", "31"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, variable: str, value: str) -> None:
    error = load_error(monkeypatch, BOT_TOKEN=TOKEN, **{variable: value})
    assert error.startswith(f"Configuration error: {variable} ")
    assert "\n" not in error


def test_every_bad_variable_gets_its_own_line(monkeypatch) -> None:
    error = load_error(monkeypatch, BOT_TOKEN="x", DEFAULT_LOCALE="fr", PROVINCE_CODE="999")
    lines = error.splitlines()
    assert len(lines) == 3
    assert {line.split()[2] for line in lines} == {"BOT_TOKEN", "DEFAULT_LOCALE", "PROVINCE_CODE"}


def test_defaults(monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/khuyencong.db"
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.tz.key == "Asia/Ho_Chi_Minh"
    assert settings.default_locale == "vi"
    assert settings.province_code == 91
    assert settings.telegram_api_base == OFFICIAL_API == "https://api.telegram.org"
    assert settings.admin_ids == frozenset()


def test_settings_constructed_directly_ignore_env_file(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nPROVINCE_CODE=1\n", encoding="utf-8")
    assert load_settings().province_code == 1  # load_settings reads .env from the working directory
    settings = Settings(_env_file=None, bot_token=TOKEN, telegram_api_base="https://tg.example.org/")
    assert settings.province_code == 91
    assert settings.telegram_api_base == "https://tg.example.org"


def test_environment_wins_over_defaults(monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@db/kc")
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    monkeypatch.setenv("PROVINCE_CODE", "1")
    settings = load_settings()
    assert (settings.database_url, settings.default_locale, settings.province_code) == (
        "postgresql+asyncpg://u@db/kc", "en", 1)


def test_zalo_webhook_settings_are_checked_in_one_line(monkeypatch) -> None:
    monkeypatch.setenv("ZALO_BOT_TOKEN", "1234567890:zalo-secret")
    settings = load_settings()
    assert (settings.zalo_mode, settings.webhook_host, settings.webhook_port) == ("polling", "127.0.0.1", 8081)
    assert load_error(monkeypatch, ZALO_MODE="hook") == \
        "Configuration error: ZALO_MODE must be 'polling' or 'webhook'"
    monkeypatch.setenv("ZALO_MODE", "webhook")
    assert load_error(monkeypatch) == \
        "Configuration error: ZALO_MODE=webhook needs ZALO_WEBHOOK_URL and ZALO_WEBHOOK_SECRET"
    monkeypatch.setenv("ZALO_WEBHOOK_URL", "https://bot.example.vn/zalo")
    message = load_error(monkeypatch, ZALO_WEBHOOK_SECRET="short")
    assert message == "Configuration error: ZALO_WEBHOOK_SECRET must be 8 to 256 characters (Zalo's secret_token)"
    assert "short" not in message.replace("secret_token", "")
    assert "Configuration error: ZALO_WEBHOOK_SECRET" in load_error(monkeypatch, ZALO_WEBHOOK_SECRET="x" * 257)
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "s3cret-enough")
    settings = load_settings()
    assert settings.zalo_mode == "webhook" and settings.zalo_webhook_secret.get_secret_value() == "s3cret-enough"


def test_telegram_webhook_settings_are_checked_in_one_line(monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.telegram_mode == "polling" and settings.webhook_channels() == []
    assert load_error(monkeypatch, TELEGRAM_MODE="push") == \
        "Configuration error: TELEGRAM_MODE must be 'polling' or 'webhook'"
    monkeypatch.setenv("TELEGRAM_MODE", "webhook")
    assert load_error(monkeypatch) == \
        "Configuration error: TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET"
    assert load_error(monkeypatch, TELEGRAM_WEBHOOK_URL="bot.example.vn/webhook/telegram") == \
        "Configuration error: TELEGRAM_WEBHOOK_URL must be the https:// address the messenger will POST updates to"
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.vn/webhook/telegram")
    message = load_error(monkeypatch, TELEGRAM_WEBHOOK_SECRET="no spaces allowed")
    assert message.startswith("Configuration error: TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters")
    assert "spaces allowed" not in message
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret_Enough-1")
    settings = load_settings()
    assert settings.webhook_channels() == ["telegram"]
    assert settings.telegram_webhook_secret.get_secret_value() == "s3cret_Enough-1"
