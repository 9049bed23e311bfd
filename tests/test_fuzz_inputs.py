"""Fuzzing what people and operators type: SMS commands, member CSV files, configuration."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway.cli.members_import import import_members
from smsgateway.config import ENV_KEYS, ENV_OVERRIDE_PREFIX, Settings, load_settings
from smsgateway.exceptions import ConfigError
from smsgateway.models import Group, Member
from smsgateway.sms import parse

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
WORDS = st.sampled_from(["STOCK", "PRIX", "LIVRAISON", "ARGAN", "5", "5,5", "-3", "1e9",
                         "SOLDE", "STOP", "COMMANDE", "OUI", "ALERTE", "LANGUE", "AR", "تسليم",
                         "مخزون", "٥", "AWIGH", "\x00", "x" * 300, "0.000001", "99999999999"])


@FUZZ
@given(st.one_of(TEXT, st.lists(WORDS, max_size=6).map(" ".join)))
def test_sms_parser_reads_anything(text: str) -> None:
    command = parse.parse(text)
    assert isinstance(command.name, str) and command.name
    assert parse.parse(text) == command  # the same text always means the same thing


ROW = st.fixed_dictionaries({
    "phone": st.one_of(st.sampled_from(["0600000101", "+212600000102", "06 00 00 01 03",
                                        "00212600000104", "٠٦٠٠٠٠٠١٠٥", "", "abc", "\x00"]),
                       TEXT),
    "name": st.one_of(st.just("Fatima Zahra"), TEXT, st.text(min_size=190, max_size=260),
                      TEXT.map(lambda t: f"A\x00{t}")),
    "language": st.one_of(st.sampled_from(["fr", "AR", "zgh", "en", "", "de"]), TEXT),
    "role": st.one_of(st.sampled_from(["member", "Coordinator", "", "admin"]), TEXT),
    "groups": st.one_of(st.sampled_from(["", "Tafraout", "A;B|C", ";;", "x" * 120]), TEXT,
                        TEXT.map(lambda t: f"G\x00{t}")),
})


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["phone", "name", "language", "role", "groups"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.mark.slow
def test_member_import_takes_any_csv(demo: Any, session: Session) -> None:
    @settings(FUZZ, max_examples=100)
    @given(st.lists(ROW, max_size=8))
    def run(rows: list[dict[str, str]]) -> None:
        before = session.scalar(select(func.count()).select_from(Member))
        report = import_members(session, demo, csv.DictReader(io.StringIO(_csv(rows))), "MA")
        session.expire_all()
        assert report.added + report.updated + report.unchanged + len(report.errors) == len(rows)
        assert session.scalar(select(func.count()).select_from(Member)) == before + report.added
        names = session.scalars(select(Member.name)).all() + session.scalars(
            select(Group.name)).all()
        assert not any("\x00" in name for name in names)

    run()


SECTIONS = {"server": ["host", "port", "trusted_proxies", "secure_cookies"],
            "limits": ["replies_per_window", "reply_window_seconds", "silence_seconds",
                       "loop_repeats", "loop_window_seconds", "webhook_requests_per_minute"],
            "ussd": ["service_code", "session_ttl_seconds"], "simulator": ["enabled"],
            "defaults": ["region", "language", "timezone"], "quiet_hours": ["start", "end"],
            "broadcast": ["retry_delays", "batch_size"], "sms": ["provider"]}
YAML_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
KNOWN_KEY = st.sampled_from([f"{s}.{k}" for s, ks in SECTIONS.items() for k in ks]
                            + ["languages", "instance_name", "database_url", "redis_url"])


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        if name:
            node = data.setdefault(section, {})
            if isinstance(node, dict):
                node[name] = value
        else:
            data[key] = value
    return data


@FUZZ
@given(yaml_text=st.one_of(
           st.dictionaries(KNOWN_KEY, YAML_VALUE, max_size=5).map(
               lambda d: yaml.safe_dump(_nested(d), allow_unicode=True)),
           TEXT),
       environ=st.dictionaries(
           st.one_of(st.sampled_from(sorted(ENV_KEYS)),
                     KNOWN_KEY.map(lambda k: ENV_OVERRIDE_PREFIX
                                   + k.upper().replace(".", "__"))),
           TEXT.filter(lambda t: "\x00" not in t), max_size=4))
def test_config_loader_answers_settings_or_one_config_error(
    tmp_path_factory: pytest.TempPathFactory, yaml_text: str, environ: dict[str, str]
) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    try:
        loaded = load_settings(path=path, environ=environ)
    except ConfigError as error:
        assert str(error).strip() and "\n" not in str(error).strip()
    else:
        assert isinstance(loaded, Settings)
