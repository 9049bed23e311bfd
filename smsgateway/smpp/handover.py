"""Send jobs hand SMPP messages to their channel's link process through a Redis stream.

The send job's provider call (:class:`HandoverProvider`) adds one stream entry per message
and records the row ``sending`` ("handed over"). The link process reads entries through a
consumer group: an entry stays pending (its lease) until the link has recorded the SMSC's
answer in the database and acknowledged it, so a link killed in between finds its pending
entries again when it starts and submits them again: at most the window's worth twice.
However long the link's queue (a 100,000 broadcast at 50/s takes half an hour) or its
outage, the sweep leaves handed-over rows alone; should Redis lose the stream, the link
hands its channel's open rows to itself again (the database is the truth).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from redis.exceptions import RedisError

from handlers.base import SENDING, SendError, SendResult, SmsOut
from handlers.smpp import SmppConfig

STREAM = "smsgateway:smpp:{name}:out"
#: The provider_status of a row handed over: the sweep leaves it to the link.
HANDED_OVER = "handed over"
GROUP = "link"
#: Receipt ids of the second and later parts of a long message -> the id stored on its row.
PARTS = "smsgateway:smpp:{name}:part-ids"


def stream_key(name: str) -> str:
    """The handover stream of channel ``name``."""
    return STREAM.format(name=name)


def ensure_group(redis: Redis, name: str) -> None:
    """Create the stream and its consumer group once (idempotent)."""
    try:
        redis.xgroup_create(stream_key(name), GROUP, id="0", mkstream=True)
    except Exception as error:  # noqa: BLE001 - redis raises ResponseError BUSYGROUP
        if "BUSYGROUP" not in str(error):
            raise


class HandoverProvider:
    """The send jobs' adapter for an SMPP channel: it queues, the link process submits."""

    max_recipients = 500

    def __init__(self, config: SmppConfig, redis: Redis) -> None:
        self.config = config
        self.name = config.provider
        self.redis = redis

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Add each message to the channel's stream; they are ``sending`` until submitted."""
        key = stream_key(self.config.name)
        try:
            ensure_group(self.redis, self.config.name)
            with self.redis.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.xadd(key, {"id": message.reference, "to": message.to,
                                    "text": message.text, "sender": message.sender or ""})
                pipe.execute()
        except RedisError as error:
            # Nothing reached the link (or only some: the link skips a second copy).
            raise SendError(f"handover to the SMPP link failed: {type(error).__name__}",
                            retryable=True, code="handover") from None
        return [SendResult(reference=m.reference, status=SENDING, provider_status=HANDED_OVER)
                for m in messages]
