"""Configuration: layering, validation, and one-line errors that name the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smsgateway import create_app
from smsgateway.config import load_settings
from smsgateway.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_yaml_is_valid() -> None:
    settings = load_settings(path=ROOT / "config.yaml", environ={})
    assert settings.ussd.service_code == "*384*123#"
    assert settings.languages == ["fr", "ar", "zgh", "en"]
    assert settings.sms_provider == "console"


def test_environment_overrides_file_and_carries_secrets(tmp_path: Path) -> None:
    env = {
        "PORT": "8080",
        "DATABASE_URL": "postgres://u:p@db.example/coop",
        "REDIS_URL": "redis://localhost:6379/3",
        "AFRICASTALKING_USERNAME": "sandbox",
        "AFRICASTALKING_API_KEY": "k",
        "AFRICASTALKING_BASE_URL": "http://127.0.0.1:9999",
        "SMSGATEWAY__USSD__SERVICE_CODE": "*384*99#",
        "SMSGATEWAY__QUIET_HOURS__ENABLED": "false",
    }
    settings = load_settings(path=ROOT / "config.yaml", environ=env)
    assert settings.server.port == 8080
    assert settings.database_url == "postgresql+psycopg://u:p@db.example/coop"
    assert settings.redis_url == "redis://localhost:6379/3"
    assert settings.africastalking.base_url == "http://127.0.0.1:9999"
    assert settings.sms_provider == "africastalking"
    assert settings.ussd.service_code == "*384*99#"
    assert settings.quiet_hours.enabled is False


def test_twilio_chosen_when_only_its_credentials_are_set() -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "COOP"}
    settings = load_settings(path=ROOT / "config.yaml", environ=env)
    assert settings.sms_provider == "twilio"
    assert settings.twilio.sender == "COOP"


TIMES = {
    "hh-mm": ("22:00", "22:00"),
    "single-digit-hour": ("7:30", "07:30"),
    "with-seconds": ("21:15:00", "21:15"),
}


@pytest.mark.parametrize("written,kept", TIMES.values(), ids=TIMES.keys())
def test_environment_overrides_take_times_as_people_write_them(written: str, kept: str) -> None:
    # YAML 1.1 would read 22:00 as 1320 (minutes): a time stays a time.
    settings = load_settings(path=ROOT / "config.yaml",
                             environ={"SMSGATEWAY__QUIET_HOURS__START": written,
                                      "SMSGATEWAY__QUIET_HOURS__END": "6:00"})
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (kept, "06:00")
    assert load_settings(path=ROOT / "config.yaml", environ={
        "SMSGATEWAY__LIMITS__REPLIES_PER_WINDOW": "7"}).limits.replies_per_window == 7


def test_check_config_says_which_provider_auto_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgateway.cli import check_config

    app = create_app({"sms": {"provider": "auto"}})
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret-token")
    monkeypatch.setenv("TWILIO_FROM", "COOP")
    result = app.test_cli_runner().invoke(check_config)
    assert result.exit_code == 0, result.output
    import json

    sms = json.loads(result.output)["sms"]
    assert (sms["provider"], sms["provider_in_use"]) == ("auto", "twilio")
    assert sms["provider_in_use_because"] == "auto: Twilio credentials are set"
    assert "secret-token" not in result.output


BAD_VALUES = [
    pytest.param({"PORT": "abc"}, None, "PORT", id="port-not-a-number"),
    pytest.param({"PORT": "70000"}, None, "PORT", id="port-out-of-range"),
    pytest.param({"REDIS_URL": "localhost:6379"}, None, "REDIS_URL", id="redis-url-scheme"),
    pytest.param({"DATABASE_URL": "mysql://x/y"}, None, "DATABASE_URL", id="database-url-kind"),
    pytest.param({"SMSGATEWAY__SMS__PROVIDER": "orange"}, None, "SMSGATEWAY__SMS__PROVIDER",
                 id="unknown-provider-env"),
    pytest.param({}, "sms:\n  provider: orange\n", "sms.provider", id="unknown-provider-file"),
    pytest.param({}, "ussd:\n  service_code: '384'\n", "ussd.service_code",
                 id="service-code-shape"),
    pytest.param({}, "quiet_hours:\n  start: '25:00'\n", "quiet_hours.start",
                 id="quiet-hours-time"),
    pytest.param({}, "languages: [fr, de]\n", "languages", id="unsupported-language"),
    pytest.param({}, "defaults:\n  timezone: Mars/Olympus\n", "defaults.timezone",
                 id="unknown-timezone"),
    pytest.param({}, "prices:\n  twilio: -1\n", "prices.twilio", id="negative-price"),
    pytest.param({}, "ussd:\n  sevice_code: '*1#'\n", "ussd.sevice_code", id="misspelt-key"),
    pytest.param({}, "twilio:\n  auth_token: abc\n", "twilio.auth_token",
                 id="secret-in-file"),
    pytest.param({}, "ussd: [1, 2\n", "config.yaml", id="broken-yaml"),
]


@pytest.mark.parametrize(("env", "yaml_text", "key"), BAD_VALUES)
def test_wrong_value_names_the_key(
    tmp_path: Path, env: dict[str, str], yaml_text: str | None, key: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text or (ROOT / "config.yaml").read_text())
    with pytest.raises(ConfigError) as info:
        load_settings(path=path, environ=env)
    message = str(info.value)
    assert message.startswith("config error: ")
    assert key in message
    assert "\n" not in message


def test_create_app_rejects_wrong_test_config() -> None:
    with pytest.raises(ConfigError, match="ussd.pin_attempts"):
        create_app({"ussd": {"pin_attempts": 0}})


@pytest.mark.parametrize(
    ("env", "key"),
    [
        pytest.param({"PORT": "abc"}, "PORT", id="port"),
        pytest.param({"SMSGATEWAY__USSD__SESSION_TTL_SECONDS": "1"},
                     "SMSGATEWAY__USSD__SESSION_TTL_SECONDS", id="ttl"),
    ],
)
def test_start_up_stops_with_one_line(tmp_path: Path, env: dict[str, str], key: str) -> None:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATEWAY__")}
    full_env.update(env, SMSGATEWAY_CONFIG=str(ROOT / "config.yaml"),
                    SMSGATEWAY_INSTANCE_PATH=str(tmp_path))
    for command in (
        [sys.executable, "-m", "smsgateway.cli", "db", "upgrade"],
        [sys.executable, "-m", "gunicorn", "-c", "python:smsgateway.gunicorn_conf",
         "smsgateway:create_app()"],
    ):
        done = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("config error: ") and key in lines[0]


def test_missing_config_file_named_by_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMSGATEWAY_CONFIG"):
        load_settings(environ={"SMSGATEWAY_CONFIG": str(tmp_path / "nope.yaml")})


def test_a_web_worker_sets_its_loaded_app_aside_from_full_collections(tmp_path: Path) -> None:
    # In a process of its own: loading the gunicorn settings prepares the metrics directory.
    probe = ("import gc; from smsgateway import gunicorn_conf; before = gc.get_freeze_count(); "
             "gunicorn_conf.post_worker_init(None); print(before, gc.get_freeze_count())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path,
                          env={**os.environ, "SMSGATEWAY_INSTANCE_PATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0 and after > 10_000  # Flask, SQLAlchemy, the models: all frozen
