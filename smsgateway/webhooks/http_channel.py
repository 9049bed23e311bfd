"""Callbacks of the HTTP channels: ``/webhooks/http/<channel>/inbound`` and ``.../report``.

Read as each channel's settings say (query, form or JSON; one message or a batch), checked
(shared secret, HMAC or basic auth: 403 otherwise, before anything is read), then the same
paths as every provider. Answered as the channel expects (Jasmin: ``ACK/Jasmin``; Kannel: an
empty body, which it would otherwise send to the member as an SMS).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, abort, current_app, jsonify, request

from handlers import http_channel
from handlers.base import ParseError
from handlers.http_channel import HttpConfig

from ..db import get_session
from ..links import http_channel_named
from ..redisconn import get_redis
from ..reports import apply_status
from .guards import webhook_blueprint
from .sms import _bad_request, _receive, _try_again

log = logging.getLogger(__name__)
bp = webhook_blueprint("webhooks_http_channel", __name__)


def _channel(name: str) -> HttpConfig:
    config = http_channel_named(get_session(), name)
    if config is None:
        abort(404)
    if not http_channel.verify(config, request.headers, request.args, request.get_data()):
        log.warning("http channel %s: callback refused (not genuine)", name)
        abort(403)
    return config


def _payload() -> dict[str, Any]:
    payload: dict[str, Any] = request.args.to_dict(flat=True)
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ParseError("the body is not a JSON object")
        payload.update(body)
    else:
        payload.update(request.form.to_dict(flat=True))
    payload.pop("secret", None)  # the shared secret is no field of the message
    return payload


def _answer(config: HttpConfig, kind: str, default: dict[str, Any]) -> Any:
    rule = http_channel.answer(config, kind)
    if rule is None:
        return jsonify(default)
    body, content_type = rule
    return Response(body, mimetype=content_type)


@bp.route("/http/<name>/inbound", methods=["GET", "POST"])
def inbound(name: str) -> Any:
    """Inbound SMS (one or a batch); replies go out on the same channel."""
    config = _channel(name)
    try:
        messages = http_channel.parse_inbound(config, _payload())
    except ParseError as error:
        return _bad_request(error)
    ids = []
    for sms in messages:
        outcome = _receive(sms, reply_provider=config.provider, channel_id=config.channel_id)
        if outcome is None:
            return _try_again()
        ids.append(outcome.inbound_id)
    return _answer(config, "inbound", {"status": "received", "ids": ids})


@bp.route("/http/<name>/report", methods=["GET", "POST"])
def report(name: str) -> Any:
    """Delivery reports (one or a batch); statuses only move forward."""
    config = _channel(name)
    try:
        reports = http_channel.parse_reports(config, _payload())
    except ParseError as error:
        return _bad_request(error)
    session = get_session()
    settings, redis = current_app.config["SETTINGS"], get_redis()
    applied = sum(apply_status(session, settings, redis, r) is not None for r in reports)
    session.commit()
    return _answer(config, "reports", {"status": "applied", "applied": applied})
