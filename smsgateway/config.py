"""Settings: defaults, then config.yaml, then the environment, then validation.

Operators edit ``config.yaml``; secrets come only from the environment. Any wrong value
raises :class:`ConfigError` naming the key (or the environment variable) at fault, and the
entry points turn it into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from menus.languages import LANGUAGES

from .exceptions import ConfigError

# The one list of languages lives with the texts (menus/languages.py).
Language = Literal[LANGUAGES]  # type: ignore[valid-type]
ProviderName = Literal["console", "africastalking", "twilio"]

#: Environment variables and the setting each one fills.
ENV_KEYS: dict[str, str] = {
    "PORT": "server.port",
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "SECRET_KEY": "secret_key",
    "PUBLIC_BASE_URL": "public_base_url",
    "AFRICASTALKING_USERNAME": "africastalking.username",
    "AFRICASTALKING_API_KEY": "africastalking.api_key",
    "AFRICASTALKING_SENDER": "africastalking.sender",
    "AFRICASTALKING_BASE_URL": "africastalking.base_url",
    "AFRICASTALKING_WEBHOOK_SECRET": "africastalking.webhook_secret",
    "TWILIO_ACCOUNT_SID": "twilio.account_sid",
    "TWILIO_AUTH_TOKEN": "twilio.auth_token",
    "TWILIO_FROM": "twilio.sender",
    "TWILIO_BASE_URL": "twilio.base_url",
    "SIMULATOR_PASSWORD": "simulator.password",
    "ADMIN_PASSWORD": "admin.password",
    "METRICS_TOKEN": "metrics.token",
    "CHANNEL_KEY": "channels.key",
}

#: Settings that must never be written in config.yaml.
SECRET_KEYS = frozenset(
    {
        "secret_key",
        "database_url",
        "africastalking.api_key",
        "africastalking.webhook_secret",
        "twilio.auth_token",
        "simulator.password",
        "admin.password",
        "metrics.token",
        "channels.key",
    }
)

#: ``SMSGATEWAY__USSD__SERVICE_CODE=*384*1#`` overrides ``ussd.service_code``.
ENV_OVERRIDE_PREFIX = "SMSGATEWAY__"

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    # Reverse proxies in front of the gateway whose X-Forwarded-For is believed (0: none, so a
    # client cannot pick its own address by sending the header).
    trusted_proxies: int = Field(0, ge=0, le=10)
    # Send the session cookie over HTTPS only (on in config.production.yaml).
    secure_cookies: bool = False


class DefaultsSettings(_Section):
    region: str = Field("MA", pattern=r"^[A-Z]{2}$")
    language: Language = "fr"
    timezone: str = "Africa/Casablanca"
    currency: str = Field("MAD", pattern=r"^[A-Z]{3}$")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class UssdSettings(_Section):
    service_code: str = Field("*384*123#", pattern=r"^\*[0-9*]+#$")
    # A little over the operators' 180 s session limit, so a slow last hop still finds its state.
    session_ttl_seconds: int = Field(240, ge=30, le=3600)
    resume_window_seconds: int = Field(300, ge=0, le=3600)
    pin_attempts: int = Field(3, ge=1, le=10)
    pin_lockout_minutes: int = Field(15, ge=1, le=1440)


class SmsSettings(_Section):
    provider: Literal["auto", "console", "africastalking", "twilio"] = "auto"


class PriceSettings(_Section):
    console: Decimal = Field(Decimal("0"), ge=0)
    africastalking: Decimal = Field(Decimal("0.25"), ge=0)
    twilio: Decimal = Field(Decimal("0.83"), ge=0)


class RateLimitSettings(_Section):
    console: float = Field(5000, gt=0)
    africastalking: float = Field(100, gt=0)
    twilio: float = Field(10, gt=0)


class QuietHoursSettings(_Section):
    enabled: bool = True
    start: str = "21:00"
    end: str = "07:00"

    @field_validator("start", "end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _TIME_RE.match(str(value)):
            raise ValueError(f"must be a time as HH:MM, got {value!r}")
        return str(value)

    def as_times(self) -> tuple[time, time]:
        """The start and end as ``datetime.time``."""
        start_h, start_m = map(int, self.start.split(":"))
        end_h, end_m = map(int, self.end.split(":"))
        return time(start_h, start_m), time(end_h, end_m)


class BroadcastSettings(_Section):
    chunk_size: int = Field(1000, ge=10, le=100_000)
    batch_size: int = Field(500, ge=1, le=5000)
    default_expiry_hours: int = Field(24, ge=1, le=24 * 30)
    fold_by_default: bool = False
    max_attempts: int = Field(5, ge=1, le=50)
    retry_delays: list[int] = Field(default_factory=lambda: [10, 60, 300, 900], min_length=1)
    # A send job holds its claimed rows this long, renewed between provider rounds; the rows
    # of a dead worker go back to the queue once it passes (longer than a provider round).
    lease_seconds: int = Field(45, ge=2, le=3600)
    single_round: int = Field(32, ge=1, le=500)
    # How long a request that timed out after reaching the provider waits for delivery
    # reports to say who got it, before the rest is sent again (see smsgateway/reconcile.py).
    unknown_grace_seconds: int = Field(120, ge=0, le=3600)


class SimulatorSettings(_Section):
    # Off unless turned on: ``smsgateway dev`` turns it on for its loopback server, and a
    # server listening beyond loopback refuses to start with it on and no password.
    enabled: bool = False
    password: str | None = None
    # config.production.yaml sets this: turning the simulator on there then needs a password.
    require_password: bool = False

    @model_validator(mode="after")
    def _password_when_required(self) -> SimulatorSettings:
        if self.enabled and self.require_password and not self.password:
            raise ValueError("enabled with require_password: set SIMULATOR_PASSWORD")
        return self


class LimitSettings(_Section):
    """What one phone number, or one address calling the webhooks, may cost."""

    # Replies to one number per window; the next message gets one notice, then silence.
    replies_per_window: int = Field(5, ge=1, le=1000)
    reply_window_seconds: int = Field(60, ge=1, le=86400)
    silence_seconds: int = Field(900, ge=1, le=86400)
    # The same text from the same number more than this often in loop_window_seconds is an
    # automatic sender (or a loop with one): it is stored, not answered.
    loop_repeats: int = Field(3, ge=1, le=1000)
    loop_window_seconds: int = Field(600, ge=1, le=86400)
    # Webhook requests per minute from one source address (0: no limit). The providers call
    # from a few addresses, delivery reports included: keep it well above their peak.
    webhook_requests_per_minute: int = Field(12000, ge=0, le=10_000_000)


class ConsoleSettings(_Section):
    echo: bool = True


class AfricasTalkingSettings(_Section):
    username: str | None = None
    api_key: str | None = None
    sender: str | None = None
    base_url: str = "https://api.africastalking.com"
    webhook_secret: str | None = None
    timeout: float = Field(10.0, gt=0, le=120)  # seconds to wait for a send request's answer

    @property
    def configured(self) -> bool:
        """Whether credentials are present."""
        return bool(self.username and self.api_key)


class TwilioSettings(_Section):
    account_sid: str | None = None
    auth_token: str | None = None
    sender: str | None = None
    base_url: str = "https://api.twilio.com"

    @property
    def configured(self) -> bool:
        """Whether credentials are present."""
        return bool(self.account_sid and self.auth_token)


class ChannelSettings(_Section):
    """Channels kept as records (smsgateway/channels): their key and how they are watched."""

    # A Fernet key (``smsgateway channels key`` prints a new one) that encrypts the channels'
    # secrets at rest. Unset: one random key kept in the instance folder (development).
    key: str | None = None
    # A phone not heard from (webhook, ping, /health) for this long is marked down.
    silent_after_seconds: int = Field(900, ge=30, le=7 * 86400)
    # Seconds to wait for a phone's answer to a send request.
    timeout: float = Field(10.0, gt=0, le=120)


class LoggingSettings(_Section):
    # auto: plain text in a terminal (make run), JSON lines anywhere else (production).
    format: Literal["auto", "json", "plain"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class MetricsSettings(_Section):
    # Unset: /metrics answers only loopback clients (as seen after the trusted proxies).
    token: str | None = None


class ReadinessSettings(_Section):
    # /readyz answers 503 when a reply or an urgent alert has waited longer than this.
    max_queue_lag_seconds: int = Field(120, ge=1, le=86400)


class AdminSettings(_Section):
    # Unset: the operator pages answer 404 (no accounts yet; HTTP basic auth with this).
    password: str | None = None


class Settings(_Section):
    """Every setting of the gateway, validated."""

    server: ServerSettings = ServerSettings()
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    public_base_url: str | None = None
    instance_name: str = "smsgateway"
    defaults: DefaultsSettings = DefaultsSettings()
    languages: list[Language] = Field(default_factory=lambda: list(LANGUAGES), min_length=1)
    ussd: UssdSettings = UssdSettings()
    sms: SmsSettings = SmsSettings()
    prices: PriceSettings = PriceSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    limits: LimitSettings = LimitSettings()
    console: ConsoleSettings = ConsoleSettings()
    africastalking: AfricasTalkingSettings = AfricasTalkingSettings()
    twilio: TwilioSettings = TwilioSettings()
    channels: ChannelSettings = ChannelSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    readiness: ReadinessSettings = ReadinessSettings()
    admin: AdminSettings = AdminSettings()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return normalize_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("public_base_url", "secret_key")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def sms_provider(self) -> ProviderName:
        """The provider for outbound SMS: the configured one, or the first with credentials."""
        if self.sms.provider != "auto":
            return self.sms.provider
        if self.africastalking.configured:
            return "africastalking"
        if self.twilio.configured:
            return "twilio"
        return "console"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_database_url(url: str) -> str:
    """Map the spellings hosts use for PostgreSQL onto SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("postgresql+psycopg://", "sqlite")):
        raise ValueError("must be a postgresql:// or sqlite:// URL")
    return url


def default_config_path(environ: dict[str, str] | None = None) -> Path:
    """``$SMSGATEWAY_CONFIG``, else ``config.yaml`` in the working directory."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("SMSGATEWAY_CONFIG", "config.yaml"))


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from config.yaml, the environment and ``overrides``, in that order."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}

    config_path = path if path is not None else default_config_path(environ)
    explicit = path is not None or "SMSGATEWAY_CONFIG" in environ
    if config_path.exists():
        data = _read_yaml(config_path)
        for key in _flatten(data):
            origins[key] = f"{config_path.name}: {key}"
            if key in SECRET_KEYS:
                env_name = next((k for k, v in ENV_KEYS.items() if v == key), key.upper())
                raise ConfigError(key, f"is a secret: set it in the environment as {env_name}")
    elif explicit:
        raise ConfigError("SMSGATEWAY_CONFIG", f"no such file: {config_path}")

    for env_name, key in ENV_KEYS.items():
        if env_name in environ:
            _set_dotted(data, key, environ[env_name])
            origins[key] = env_name
    for env_name, raw in environ.items():
        if env_name.startswith(ENV_OVERRIDE_PREFIX):
            key = env_name[len(ENV_OVERRIDE_PREFIX) :].lower().replace("__", ".")
            try:
                value = yaml.safe_load(raw) if raw else raw
            except yaml.YAMLError:
                value = raw
            _set_dotted(data, key, value)
            origins[key] = env_name

    for key, value in _flatten(overrides or {}).items():
        _set_dotted(data, key, value)
        origins[key] = f"test_config: {key}"

    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "config"
        origin = _origin_of(key, origins)
        message = _describe(error)
        raise ConfigError(origin, message) from None
    _check_provider_credentials(settings, origins)
    return settings


def _check_provider_credentials(settings: Settings, origins: dict[str, str]) -> None:
    chosen = settings.sms.provider
    needs = {"africastalking": ("AFRICASTALKING_USERNAME", "AFRICASTALKING_API_KEY"),
             "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")}
    if chosen in needs and not getattr(settings, chosen).configured:
        first, second = needs[chosen]
        raise ConfigError(_origin_of("sms.provider", origins),
                          f"is {chosen} but {first} and {second} are not both set")


def _origin_of(key: str, origins: dict[str, str]) -> str:
    # A list item's error carries its index (languages.1); name the setting that was written.
    while key:
        if key in origins:
            origin = origins[key]
            return origin.split(": ", 1)[1] if origin.startswith("test_config") else origin
        if "." not in key:
            break
        key = key.rsplit(".", 1)[0]
    return key


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "extra_forbidden":
        return "is not a known setting"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}, got {value!r}"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if kind.endswith("_parsing") or kind.startswith(("greater", "less", "string_pattern")):
        return f"{message[0].lower()}{message[1:]}, got {value!r}"
    return message[0].lower() + message[1:]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(path.name, f"is not valid YAML{where}") from None
    except OSError as exc:
        raise ConfigError(path.name, f"cannot be read: {exc.strerror}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(path.name, "must be a mapping of settings")
    return loaded


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = copy.deepcopy(value)
