"""SMPP channels: the handover from send jobs, the link process, and what arrives on it.

``send job -> handover (Redis stream) -> link process (smpp) -> SMSC``; what the SMSC sends
(inbound SMS, receipts, USSD hops) comes back through the link into the same paths as every
other channel (:mod:`smsgateway.sms.inbound`, :mod:`smsgateway.reports`,
:mod:`smsgateway.ussd`).
"""

from __future__ import annotations

from flask import Flask

from handlers import registry
from handlers.base import Provider
from handlers.smpp import NAME


def _handover(config: registry.ChannelConfig) -> Provider:
    from ..links import smpp_config
    from ..redisconn import get_redis
    from .handover import HandoverProvider

    try:
        settings = smpp_config(config)
    except (ValueError, TypeError) as error:
        raise KeyError(f"channel {config.name!r} (smpp): {error}") from None
    return HandoverProvider(settings, get_redis())


def init_app(app: Flask) -> None:
    """Make ``smpp`` a channel kind: its send adapter hands messages to the link process."""
    registry.KINDS[NAME] = _handover


# At import too: the channels CLI lists the kinds when it is imported, before any app exists.
registry.KINDS[NAME] = _handover
