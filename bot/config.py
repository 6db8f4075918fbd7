"""Application settings, read once from the environment or `.env`."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SUPPORTED_LOCALES = ("vi", "en")
OFFICIAL_API = "https://api.telegram.org"
ZALO_API = "https://bot-api.zaloplatforms.com"
# The value `.env.example` ships with: copying the file without editing it must not reach Telegram.
PLACEHOLDER_TOKEN = "123456789:replace-with-your-token"
# Database URL schemes as hosting platforms and people write them → the async driver the bot uses.
DATABASE_SCHEMES = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


class Settings(BaseSettings):
    """Every setting of the bot; see `.env.example` for the documented list."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Optional here: `migrate` needs no channel; `run` and `deliver` refuse to start without it.
    bot_token: SecretStr | None = Field(default=None, description="Telegram bot token from @BotFather")
    telegram_api_base: str = OFFICIAL_API
    # The Telegram bot's @username, for invitation links in the staff console (which needs no token; the bot
    # itself asks Telegram). Empty: the console shows the typed code only.
    bot_username: str = ""
    # How Telegram's updates arrive: `polling` (one `run` process long-polls getUpdates, the default) or
    # `webhook` (Telegram POSTs them to TELEGRAM_WEBHOOK_URL, which must reach the console's
    # /webhook/telegram: any number of `python -m bot web` processes behind a load balancer).
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # The Zalo Bot Platform (`<bot_id>:<secret>`); with it set, `run` serves Zalo too (long polling).
    zalo_bot_token: SecretStr | None = Field(default=None, description="Zalo Bot Platform token")
    zalo_api_base: str = ZALO_API
    # How Zalo's updates arrive: `polling` (getUpdates, the default) or `webhook` (Zalo POSTs them to
    # ZALO_WEBHOOK_URL, which must reach WEBHOOK_HOST:WEBHOOK_PORT, e.g. through a reverse proxy).
    zalo_mode: Literal["polling", "webhook"] = "polling"
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8081, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///./data/khuyencong.db"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    # Staff on Zalo from the start (comma-separated hex user ids), as ADMIN_IDS are on Telegram.
    zalo_admin_ids: Annotated[frozenset[str], NoDecode] = frozenset()
    # Where notifications go for a person with several channels: the identity they wrote from last
    # ("last") or the one they started with ("first").
    notify_identity: Literal["last", "first"] = "last"
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    # How the bot addresses people in Vietnamese: "anh/chị" (polite to any adult, the default), "bạn", "ông/bà"…
    address_vi: str = Field(default="anh/chị", min_length=2, max_length=20)
    province_code: int = 91
    # Messages per second one user may send before being asked to slow down.
    throttle_rate: float = 3.0
    throttle_burst: int = 6
    # Where the per-person flood throttle keeps its buckets when several processes run: Redis if set
    # (redis://host:6379/0, needs the `redis` extra), else the database on PostgreSQL, else memory.
    redis_url: str | None = None
    # Global pace of outgoing messages (Telegram allows about 30 per second).
    send_rate: float = Field(default=25.0, gt=0, le=30)
    # Zalo's pace (its limits are not published: kept low) and its plan's messages a month (0: no quota).
    zalo_send_rate: float = Field(default=5.0, gt=0, le=30)
    zalo_monthly_quota: int = Field(default=3000, ge=0)
    # Seconds the HTTP client waits for an API answer. A message whose answer does not come in time may
    # have left, so it is never resent ("delivery unknown"): keep this well above Telegram's latency.
    send_timeout: float = Field(default=60.0, ge=5, le=600)
    # Hours a message is retried after errors that prove nothing left (Telegram down, 5xx) before "failed".
    retry_hours: float = Field(default=6.0, gt=0, le=72)
    # How often the scheduler ticks (outbox retries, scheduled broadcasts, progress); reminders every 5 ticks.
    tick_seconds: float = Field(default=2.0, gt=0, le=60)
    # Quiet hours, local ("21:00", "07:00"; equal times: none): reminders and digests wait until they end, and
    # staff sending or scheduling a broadcast inside them are warned first.
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    # A broadcast to more than this many people is sent (or scheduled) only after staff confirm the number.
    broadcast_confirm_above: int = Field(default=500, ge=0)
    # An open form left unanswered this long is closed (nothing from it is saved).
    form_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # The centre's phone and address, shown in /help and whenever the bot cannot help (empty: not shown).
    centre_phone: str = ""
    centre_address: str = ""
    # Where files people send are kept (bot/media.py); empty: a "media" folder beside the SQLite database
    # (./data/media with PostgreSQL).
    media_dir: str = ""
    # The address the app is reached at from outside (https://…); text channels get files as links under
    # it (PUBLIC_BASE_URL/media/<id>). Empty: they are told the file is available from the centre.
    public_base_url: str = ""
    # Staff web console (`python -m bot web`): cookies marked Secure (set it behind HTTPS), session length.
    web_secure_cookies: bool = False
    web_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Prometheus figures at /metrics on the staff console (no sign-in: keep the path away from the public).
    metrics_enabled: bool = True
    # A `run` or `deliver` process's own figures (updates handled, sends by outcome, with the outbox depth and
    # broadcast progress read from the database) at http://METRICS_HOST:METRICS_PORT/metrics; 0: not served.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not token:
            return None
        if token == PLACEHOLDER_TOKEN:
            raise ValueError("is still the placeholder from .env.example: put your token from @BotFather")
        bot_id, sep, secret = token.partition(":")
        if not (sep and bot_id.isdigit() and secret) or any(ch.isspace() for ch in token):
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("must look like 123456:ABC… (as given by @BotFather)")
        return SecretStr(token)

    @field_validator("bot_username")
    @classmethod
    def _username_shape(cls, value: str) -> str:
        name = value.strip().removeprefix("@")
        if name and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", name):
            raise ValueError("must be the bot's @username as Telegram shows it (letters, digits, _)")
        return name

    @field_validator("zalo_bot_token")
    @classmethod
    def _zalo_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        token = value.get_secret_value().strip()
        bot_id, sep, secret = token.partition(":")
        if not (sep and bot_id.isdigit() and secret) or any(ch.isspace() for ch in token):
            raise ValueError("must look like <bot id>:<secret> (as given by Zalo Bot Creator)")
        return SecretStr(token)

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8 to 256 characters (Zalo's secret_token)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            # Telegram's secret_token: never echoed, it is a secret even when malformed.
            raise ValueError("must be 1 to 256 characters, only letters, digits, _ and - (Telegram's secret_token)")
        return value

    @field_validator("zalo_webhook_url", "telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be the https:// address the messenger will POST updates to")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        for channel, token, mode in (("ZALO", self.zalo_bot_token, self.zalo_mode),
                                     ("TELEGRAM", self.bot_token, self.telegram_mode)):
            if token is None or mode != "webhook":
                continue
            url, secret = (self.zalo_webhook_url, self.zalo_webhook_secret) if channel == "ZALO" else \
                (self.telegram_webhook_url, self.telegram_webhook_secret)
            missing = [name for name, value in ((f"{channel}_WEBHOOK_URL", url),
                                                (f"{channel}_WEBHOOK_SECRET", secret)) if value is None]
            if missing:
                raise ValueError(f"{channel}_MODE=webhook needs {' and '.join(missing)}")
        return self

    def webhook_channels(self) -> list[str]:
        """The configured channels whose updates arrive by webhook (served by `python -m bot web`)."""
        modes = (("telegram", self.bot_token, self.telegram_mode), ("zalo", self.zalo_bot_token, self.zalo_mode))
        return [name for name, token, mode in modes if token is not None and mode == "webhook"]

    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    def media_folder(self) -> Path:
        if self.media_dir.strip():
            return Path(self.media_dir.strip())
        _scheme, sep, path = self.database_url.partition(":///")
        if self.database_url.startswith("sqlite") and sep and path and ":memory:" not in path:
            return Path(path).parent / "media"
        return Path("data") / "media"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError:
                raise ValueError("must be comma-separated numeric Telegram user ids") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("zalo_admin_ids", mode="before")
    @classmethod
    def _split_zalo_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip().lower() for p in value.replace(";", ",").split(",")]
            if any(p and not re.fullmatch(r"[0-9a-f]{1,64}", p) for p in parts):
                raise ValueError("must be comma-separated hexadecimal Zalo user ids")
            return frozenset(p for p in parts if p)
        return value

    def staff_identities(self) -> frozenset[tuple[str, str]]:
        """(channel, external id) of everyone who is staff by the settings (ADMIN_IDS, ZALO_ADMIN_IDS)."""
        return frozenset({("telegram", str(i)) for i in self.admin_ids} | {("zalo", z) for z in self.zalo_admin_ids})

    @field_validator("telegram_api_base", "zalo_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("province_code")
    @classmethod
    def _province(cls, value: int) -> int:
        from vietnam_provinces import Province, ProvinceCode

        try:
            Province.from_code(ProvinceCode(value))
        except ValueError:
            raise ValueError("is not a province code known to vietnam-provinces") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def centre_contact(self) -> tuple[str, str]:
        """(phone, address) of the centre, for the services that write to people."""
        return self.centre_phone, self.centre_address

    def channels(self) -> list[str]:
        """The messengers this process serves: each one whose token is set; one line when there is none."""
        found = [name for name, token in (("telegram", self.bot_token), ("zalo", self.zalo_bot_token)) if token]
        if not found:
            raise SettingsError("Configuration error: no channel is configured: set BOT_TOKEN (Telegram) "
                                "and/or ZALO_BOT_TOKEN (Zalo), see .env.example")
        return found

    def token(self) -> str:
        """The Telegram token; a command that talks to Telegram stops with one line when it is not set."""
        if self.bot_token is None:
            raise SettingsError("Configuration error: BOT_TOKEN is required to talk to Telegram (see .env.example)")
        return self.bot_token.get_secret_value()


def normalise_database_url(value: str) -> str:
    """`postgres://` and `postgresql://` (as platforms set them) use asyncpg, `sqlite://` aiosqlite;
    anything else is refused without echoing the URL (it may hold a password)."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    driver = DATABASE_SCHEMES.get(scheme.lower()) if sep else None
    if driver is None:
        raise ValueError("must be a PostgreSQL (postgresql://…, postgres://…) or SQLite (sqlite:///…) URL")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    normalised = f"{driver}://{rest}"
    try:
        url = make_url(normalised)
        url.port  # noqa: B018  (a port that is not a number raises here)
    except (ArgumentError, ValueError):
        raise ValueError("is not a valid database URL") from None
    if driver == "postgresql+asyncpg" and "sslmode" in url.query:
        # libpq's `?sslmode=require` (common on platforms) is asyncpg's `?ssl=require`.
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        return url.set(query=query).render_as_string(hide_password=False)
    return normalised


class SettingsError(SystemExit):
    """Start-up stops with one clear line naming the variable at fault."""


def load_settings(**overrides: object) -> Settings:
    """Load settings, turning validation errors into one readable line per variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else ""
            message = "is required" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            if err["type"] == "literal_error":
                message = "must be " + message.removeprefix("Input should be ")
            lines.append(f"Configuration error: {name} {message}".replace(":  ", ": "))
        raise SettingsError("\n".join(lines)) from None
