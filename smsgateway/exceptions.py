"""Every exception the application raises on purpose, in one place."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of the gateway's own errors."""


class ConfigError(GatewayError):
    """A configuration value is missing or wrong; start-up must stop."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"config error: {self.key}: {self.message}"


class InvalidPhoneNumber(GatewayError, ValueError):
    """A phone number that cannot be read as a mobile number."""


class InsufficientStock(GatewayError):
    """A movement would take a product's stock below zero."""

    def __init__(self, product_id: int, available: object, requested: object) -> None:
        super().__init__(f"product {product_id}: {available} available, {requested} requested")
        self.product_id = product_id
        self.available = available
        self.requested = requested


class ImmutableRecord(GatewayError):
    """An append-only record (stock ledger, audit log) was about to be changed."""


class InvalidTransition(GatewayError):
    """A status change that the record's life cycle does not allow."""


class UnknownProvider(GatewayError):
    """A provider name that no handler serves."""


class Refused(GatewayError, ValueError):
    """An operation that would break a rule: one line naming the field; nothing changed."""

    def __init__(self, field: str, message: str, *, key: str = "", **params: object) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        # A catalog key (and its values) a page says the refusal with, in its reader's
        # language; ``message`` is the English one the command line prints.
        self.key = key
        self.params = params


class NotPermitted(GatewayError, PermissionError):
    """The acting account may not read or change that cooperative's records."""
