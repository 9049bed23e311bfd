"""Channel secrets at rest: a JSON object encrypted with Fernet, keyed from the environment.

Fernet (from the PyCA ``cryptography`` package) rather than anything written here: it is
authenticated encryption (AES-128-CBC with HMAC-SHA256 over a versioned, timestamped token),
so a tampered or wrongly keyed value fails loudly instead of decrypting to garbage, and
``MultiFernet`` rotates keys (``CHANNEL_KEY=new,old`` decrypts with either, encrypts with the
first). ``cryptography`` is the well-kept library Python's own ecosystem builds on.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from ..exceptions import ConfigError

EXTENSION = "smsgateway.channel-secrets"
#: Without CHANNEL_KEY (development), one random key kept here in the instance folder.
KEY_FILE = "channel_key"


class SecretBox:
    """Encrypts and decrypts a channel's secrets (a dict of strings)."""

    def __init__(self, keys: list[str]) -> None:
        try:
            self.fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigError("CHANNEL_KEY", "must be Fernet keys (urlsafe base64 of 32 bytes), "
                              "comma-separated; `smsgateway channels key` prints one") from None

    def seal(self, secrets: dict[str, str]) -> str:
        """The encrypted token of ``secrets`` ('' for none)."""
        if not secrets:
            return ""
        return self.fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        """The secrets sealed in ``token``; :class:`ConfigError` when the key does not fit."""
        if not token:
            return {}
        try:
            return dict(json.loads(self.fernet.decrypt(token.encode())))
        except InvalidToken:
            raise ConfigError("CHANNEL_KEY", "does not decrypt the channels' secrets "
                              "(changed key? keep the old one after the new: new,old)") from None


def new_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode()


def _instance_key(instance_path: str) -> str:
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        path.write_text(new_key())
        path.chmod(0o600)
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    """Build the app's secret box from CHANNEL_KEY, or the instance folder's key."""
    configured = app.config["SETTINGS"].channels.key
    keys = configured.split(",") if configured else [_instance_key(app.instance_path)]
    app.extensions[EXTENSION] = SecretBox(keys)


def get_box(app: Flask | None = None) -> SecretBox:
    """The app's secret box."""
    return (app or current_app).extensions[EXTENSION]
