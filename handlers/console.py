"""The console provider: sends nothing, prints each message, and reports it delivered.

The gateway stores every outbound message before a provider sees it, so the simulator's inbox
reads console messages from there; this adapter only has to print and acknowledge.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import TextIO

from .base import DELIVERED, SendResult, SmsOut

NAME = "console"


class ConsoleProvider:
    """Development and simulator provider."""

    name = NAME
    max_recipients = 1000

    def __init__(self, stream: TextIO | None = None, *, echo: bool = True) -> None:
        self.stream = stream
        self.echo = echo

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Print each message and acknowledge it as delivered."""
        stream = self.stream or sys.stdout
        results = []
        for message in messages:
            if self.echo:
                sender = f" from {message.sender}" if message.sender else ""
                print(f"[sms to {message.to}{sender}] {message.text}", file=stream, flush=True)
            results.append(
                SendResult(
                    reference=message.reference,
                    provider_message_id=f"console-{uuid.uuid4().hex}",
                    status=DELIVERED,
                    provider_status="Printed",
                )
            )
        return results
