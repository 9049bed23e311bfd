"""Africa's Talking USSD callbacks (routes attach to the webhooks blueprint)."""

from __future__ import annotations
