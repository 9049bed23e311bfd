"""Outbound SMS through the queue and the console provider."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.base import SmsOut
from handlers.console import ConsoleProvider
from smsgateway import jobs, outbox
from smsgateway.logs import TracedJob
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.queues import BULK, REPLIES, get_queue
from smsgateway.redisconn import get_redis


def test_console_provider_prints_and_acknowledges(capsys: pytest.CaptureFixture[str]) -> None:
    results = ConsoleProvider().send([SmsOut(reference=7, to="+212600000002", text="Salam")])
    assert capsys.readouterr().out == "[sms to +212600000002] Salam\n"
    assert results[0].reference == 7 and results[0].status == "delivered"
    assert results[0].provider_message_id.startswith("console-")


def test_reply_is_stored_queued_then_sent_by_a_worker(
    app: Flask, session: Session, run_jobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    message = outbox.add(session, to="+212600000002", text="تم تسجيل التسليم",
                         kind=MessageKind.REPLY)
    outbox.commit_and_send(session, [message], get_redis())
    assert message.status == OutboundStatus.QUEUED
    assert (message.encoding, message.segments, message.provider) == ("UCS-2", 1, "console")
    assert get_queue(REPLIES, app).count == 1 and get_queue(BULK, app).count == 0

    run_jobs()
    session.expire_all()
    sent = session.scalars(select(OutboundMessage)).one()
    assert sent.status == OutboundStatus.DELIVERED
    assert sent.provider_message_id.startswith("console-")
    assert sent.attempts == 1 and sent.sent_at is not None
    assert "[sms to +212600000002] تم تسجيل التسليم" in capsys.readouterr().out


def test_a_message_is_sent_once_even_if_its_job_runs_twice(
    app: Flask, session: Session, run_jobs: Any
) -> None:
    message = outbox.add(session, to="+212600000004", text="Réunion demain 10h",
                         kind=MessageKind.CONFIRMATION)
    outbox.commit_and_send(session, [message], get_redis())
    outbox.send([message], get_redis())  # a duplicate job for the same id
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, message.id).attempts == 1


def test_a_reply_turn_is_the_job_rq_itself_enqueues_and_a_worker_runs_it(
    app: Flask, session: Session, run_jobs: Any
) -> None:
    # The turn and its job are written by one Lua script (smsgateway.jobs): the hash must be
    # field for field what RQ's own enqueue writes, and a real worker must run it.
    redis = get_redis()
    message = outbox.add(session, to="+212600000006", text="Stock: argan 12 L",
                         kind=MessageKind.REPLY)
    outbox.commit_and_send(session, [message], redis)
    turn = jobs.reply_turns(redis, ["+212600000006"])["+212600000006"]
    assert turn is not None and redis.lrange(f"rq:queue:{REPLIES}", 0, -1) == [turn.encode()]
    assert f"rq:queue:{REPLIES}".encode() in redis.smembers("rq:queues")
    ours = redis.hgetall(f"rq:job:{turn}")

    Queue(REPLIES, connection=redis, job_class=TracedJob).enqueue_many([Queue.prepare_data(
        jobs.SEND_REPLIES, args=("+212600000006",), timeout=jobs.SEND_TIMEOUT,
        job_id="rq-own", result_ttl=jobs.RESULT_TTL, failure_ttl=jobs.FAILURE_TTL)])
    theirs = redis.hgetall("rq:job:rq-own")
    stamps = {b"created_at", b"enqueued_at"}
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if k not in stamps} == {
        k: v for k, v in theirs.items() if k not in stamps}
    assert all(len(ours[k]) == len(theirs[k]) for k in stamps)
    assert redis.ttl(f"rq:job:{turn}") == redis.ttl("rq:job:rq-own") == -1
    redis.lrem(f"rq:queue:{REPLIES}", 0, "rq-own")

    # The phone's turn already waits: a second reply adds no job.
    second = outbox.add(session, to="+212600000006", text="Prix: argan 120 MAD",
                        kind=MessageKind.REPLY)
    outbox.commit_and_send(session, [second], redis)
    assert get_queue(REPLIES, app).count == 1
    run_jobs()
    session.expire_all()
    assert [m.status for m in session.scalars(select(OutboundMessage))] == [
        OutboundStatus.DELIVERED] * 2
    assert jobs.reply_turns(redis, ["+212600000006"]) == {"+212600000006": None}
