"""Inbound SMS and delivery reports from Africa's Talking and Twilio (routes attach to bp)."""

from __future__ import annotations
