"""Resolutions: who may vote, what may change once votes are cast, the day it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.db import utcnow
from smsgateway.exceptions import Refused
from smsgateway.models import Channel, Member
from smsgateway.services import resolutions, votes
from smsgateway.services.accounts import operator

TEXTS = {"titles": {"fr": "Nouvelle presse ?"}, "choices": {"fr": ["Oui", "Non"]}}


def _member(session: Session, phone: str) -> Member:
    return session.scalars(select(Member).where(Member.phone == phone)).one()


def test_only_the_groups_named_may_vote(session: Session, demo: Any) -> None:
    resolution = resolutions.create_resolution(
        session, operator(), demo, **TEXTS, closes_at=utcnow() + timedelta(days=1),
        voter_groups=["Tafraout"], quorum_percent=60)
    itto, khadija = _member(session, "+212600000003"), _member(session, "+212600000002")
    votes.cast_vote(session, itto, resolution, 0, Channel.SMS)
    with pytest.raises(PermissionError):
        votes.cast_vote(session, khadija, resolution, 0, Channel.SMS)  # Aït Baha
    found = resolutions.results(session, resolution)
    # Itto and Aicha are in Tafraout: one of two voted, under the 60% quorum.
    assert (found.counts, found.voted, found.eligible) == ([1, 0], 1, 2)
    assert found.turnout_percent == 50 and not found.quorum_met
    assert resolution not in votes.open_resolutions(session, demo.id, member=khadija)


def test_a_cast_vote_freezes_all_but_the_closing_time(session: Session, demo: Any) -> None:
    resolution = resolutions.create_resolution(
        session, operator(), demo, **TEXTS, closes_at=utcnow() + timedelta(days=1))
    votes.cast_vote(session, _member(session, "+212600000004"), resolution, 1, Channel.USSD)
    for change, field in (({"titles": {"fr": "Autre ?"}}, "question"),
                          ({"choices": {"fr": ["A", "B", "C"]}}, "choices"),
                          ({"quorum_percent": 10}, "quorum"),
                          ({"voter_groups": ["amlou"]}, "voters")):
        with pytest.raises(Refused) as refused:
            resolutions.edit_resolution(session, operator(), resolution, **change)
        assert refused.value.field == field
    later = utcnow() + timedelta(days=3)
    resolutions.edit_resolution(session, operator(), resolution, closes_at=later)
    assert resolution.closes_at == later


def test_the_closing_day_is_the_cooperatives(session: Session, demo: Any) -> None:
    resolution = resolutions.create_resolution(
        session, operator(), demo, **TEXTS, closes_at=datetime(2099, 6, 30, 23, 30, tzinfo=UTC))
    assert resolutions.closes_on(resolution) == "01/07/2099"  # Africa/Casablanca: UTC+1
