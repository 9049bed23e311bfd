"""The configurable HTTP channel: one adapter driven by settings, as RapidPro's "external".

A channel says how to send (method, URL, auth by header, basic, bearer or OAuth2 client
credentials; JSON, form or query; a body template; which answers mean success; where the
message id and the error are; how many recipients one request may carry), how to read its
inbound messages and delivery reports (field paths, a status table, batched payloads) and
how to check they are genuine (shared secret, HMAC, basic auth). Presets for Infobip,
Jasmin and Kannel live in :mod:`handlers.http_presets`.

Templates are Jinja2 rendered in its ``SandboxedEnvironment``: a channel's settings come
from an operator's form, and a template must not reach Python objects through them.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from menus.encoding import is_gsm7

from .base import (
    SENT,
    STATUS_RANK,
    ParseError,
    SendError,
    SendResult,
    SmsIn,
    SmsOut,
    StatusUpdate,
    clean,
    international,
)
from .http_presets import PRESETS

NAME = "http"
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters["digits"] = lambda value: re.sub(r"\D", "", str(value))
_ENV.filters["ucs2hex"] = lambda value: str(value).encode("utf-16-be").hex()


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _undot(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{"vars.base_url": x}`` (as ``channels add --setting`` writes) as ``{"vars": {...}}``."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        *parents, last = key.split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return out


def dig(data: Any, path: str | None) -> Any:
    """``data`` at a dotted path (``status.groupName``, ``results.0.id``); None if absent."""
    if not path:
        return data
    for key in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


@dataclass(frozen=True)
class HttpConfig:
    """One HTTP channel: its preset merged with its own settings, and its secrets."""

    name: str
    settings: dict[str, Any]
    secrets: dict[str, str] = field(repr=False, default_factory=dict)
    #: The channel record it belongs to.
    channel_id: int = 0

    @property
    def provider(self) -> str:
        """The provider name stored on this channel's messages (its kind)."""
        return NAME

    @property
    def max_recipients(self) -> int:
        """Recipients of one text that one request may carry."""
        return int(self.settings["send"].get("max_recipients", 1))

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any],
                      secrets: Mapping[str, str] | None = None, channel_id: int = 0
                      ) -> HttpConfig:
        """Merge the named ``preset`` (if any) under ``settings``; templates checked now."""
        settings = _undot(settings)
        preset = settings.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        merged = _merge(PRESETS.get(preset, {}), {k: v for k, v in settings.items()
                                                   if k != "preset"})
        send = merged.get("send") or {}
        if not send.get("url"):
            raise ValueError("send.url is required")
        if send.get("content", "json") not in ("json", "form", "query"):
            raise ValueError("send.content must be json, form or query")
        for text in _templates(merged):
            try:
                _ENV.from_string(text)
            except TemplateError as error:
                raise ValueError(f"template does not compile: {error}") from None
        return cls(name, merged, dict(secrets or {}), channel_id)


def _templates(settings: Mapping[str, Any]) -> list[str]:
    send = settings.get("send", {})
    found = [send.get("url", ""), send.get("body", ""), send.get("message_id", "")]
    found += list(send.get("params", {}).values()) + list(send.get("headers", {}).values())
    return [t for t in found if isinstance(t, str)]


def render(template: str, context: Mapping[str, Any]) -> str:
    """A template of the channel's settings, rendered in the sandbox."""
    return _ENV.from_string(template).render(**context)


class HttpChannelProvider:
    """Sends through an HTTP channel as its settings describe."""

    def __init__(self, config: HttpConfig, callback_base: str | None = None,
                 session: requests.Session | None = None) -> None:
        self.config = config
        self.name = config.provider
        self.max_recipients = config.max_recipients
        self.callback_base = (callback_base or "").rstrip("/")
        self.http = session or requests.Session()
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    def _context(self, messages: Sequence[SmsOut]) -> dict[str, Any]:
        cfg = self.config
        return {
            "messages": [{"to": m.to, "text": m.text, "reference": m.reference}
                         for m in messages],
            "to": messages[0].to, "text": messages[0].text,
            "reference": messages[0].reference,
            "sender": messages[0].sender or cfg.settings.get("sender", ""),
            "settings": cfg.settings.get("vars", {}), "secrets": cfg.secrets,
            "callback": f"{self.callback_base}/webhooks/http/{cfg.name}",
            "gsm7": is_gsm7(messages[0].text),
        }

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """One request for ``messages`` (one text); per-message results."""
        try:
            return self._send(messages)
        except (TemplateError, ValueError) as error:
            # A template that fails (or tried to leave the sandbox) fails every try alike.
            raise SendError(f"channel {self.config.name} settings: {error}"[:200],
                            retryable=False, code="settings") from None

    def _send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        send = self.config.settings["send"]
        ctx = self._context(messages)
        method = send.get("method", "POST").upper()
        content = send.get("content", "json")
        kwargs: dict[str, Any] = {"headers": {k: render(v, ctx) for k, v in
                                              send.get("headers", {}).items()},
                                  "timeout": float(send.get("timeout", 10))}
        self._authenticate(kwargs)
        if content == "json":
            kwargs["json"] = json.loads(render(send["body"], ctx))
        else:
            params = {k: value for k, v in send.get("params", {}).items()
                      if (value := render(v, ctx))}
            kwargs["data" if content == "form" else "params"] = params
        try:
            response = self.http.request(method, render(send["url"], ctx), **kwargs)
        except requests.ConnectionError as error:
            raise SendError(f"cannot reach {self.name}: {type(error).__name__}",
                            retryable=True) from None
        except requests.Timeout:
            raise SendError(f"{self.name} did not answer", retryable=True,
                            maybe_sent=True) from None
        return self._results(messages, response, ctx)

    def _authenticate(self, kwargs: dict[str, Any]) -> None:
        auth = self.config.settings.get("auth") or {}
        kind, secrets = auth.get("type"), self.config.secrets
        if kind == "basic":
            kwargs["auth"] = (secrets.get("username", auth.get("username", "")),
                              secrets.get("password", ""))
        elif kind == "bearer":
            kwargs["headers"]["Authorization"] = f"Bearer {secrets.get('token', '')}"
        elif kind == "header":
            value = render(auth.get("value", ""), {"secrets": secrets})
            kwargs["headers"][auth.get("header", "Authorization")] = value
        elif kind == "oauth2":
            kwargs["headers"]["Authorization"] = f"Bearer {self._oauth_token(auth)}"

    def _oauth_token(self, auth: Mapping[str, Any]) -> str:
        """A client-credentials token, fetched once and reused until a minute before expiry."""
        with self._token_lock:
            if self._token and self._token[1] > time.monotonic():
                return self._token[0]
            try:
                answer = self.http.post(auth["token_url"], data={
                    "grant_type": "client_credentials",
                    "client_id": self.config.secrets.get("client_id", ""),
                    "client_secret": self.config.secrets.get("client_secret", "")},
                    timeout=10)
                if answer.status_code in (400, 401, 403):
                    # The token server refused our client: the same secret will not do later.
                    raise SendError(f"OAuth2 token refused ({answer.status_code})",
                                    retryable=False, code=str(answer.status_code))
                body = answer.json()
                token = str(body["access_token"])
            except (requests.RequestException, ValueError, KeyError):
                raise SendError("no OAuth2 token", retryable=True) from None
            self._token = (token, time.monotonic() + float(body.get("expires_in", 3600)) - 60)
            return token

    def _results(self, messages: Sequence[SmsOut], response: requests.Response,
                 ctx: dict[str, Any]) -> list[SendResult]:
        send = self.config.settings["send"]
        text = response.text
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        match = re.search(send["success_regex"], text) if send.get("success_regex") else True
        if response.status_code not in send.get("success_status", [200, 201, 202]) or not match:
            reason = dig(body, send.get("error_path")) if body is not None else None
            retry = response.status_code >= 500 or response.status_code == 429
            raise SendError(clean(reason or text or response.reason, 200),
                            retryable=retry, code=str(response.status_code))
        items = dig(body, send.get("results_path")) if send.get("results_path") else None
        results = []
        for index, message in enumerate(messages):
            item = items[index] if isinstance(items, list) and index < len(items) else None
            results.append(self._one(message, item, match, ctx))
        return results

    def _one(self, message: SmsOut, item: Any, match: Any, ctx: dict[str, Any]) -> SendResult:
        send = self.config.settings["send"]
        if item is not None and send.get("result_id"):
            provider_id = dig(item, send["result_id"])
        elif isinstance(match, re.Match) and "id" in match.groupdict():
            provider_id = match.group("id")
        else:
            provider_id = render(send.get("message_id", "sg-{{ reference }}"),
                                 {**ctx, "reference": message.reference})
        word = str(dig(item, send.get("result_status")) or "") if item is not None else ""
        status = self.config.settings.get("statuses", {}).get(word, SENT) if word else SENT
        if status not in (SENT, "queued", "sending", "delivered"):
            error = SendError(clean(word, 100), retryable=False, code=word[:30])
            return SendResult(reference=message.reference, error=error)
        return SendResult(reference=message.reference, provider_message_id=str(provider_id),
                          status=SENT if status in ("queued", "sending") else status,
                          provider_status=word or "accepted")


# ---- what the channel posts to us ----------------------------------------------------------

def verify(config: HttpConfig, headers: Mapping[str, str], args: Mapping[str, str],
           raw_body: bytes) -> bool:
    """Whether a callback is genuine, by the channel's ``verify`` setting (constant time)."""
    rule = config.settings.get("verify") or {"type": "secret"}
    kind, secret = rule.get("type"), config.secrets.get("webhook_secret", "")
    if kind == "none":
        return True
    if kind == "secret":
        given = args.get(rule.get("param", "secret")) or headers.get(
            rule.get("header", "X-Webhook-Secret"), "")
        return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())
    if kind == "hmac":
        digest = hmac.new(secret.encode(), raw_body, rule.get("algorithm", "sha256")).hexdigest()
        given = headers.get(rule.get("header", "X-Signature"), "")
        given = given.split("=", 1)[-1].lower()  # "sha256=..." or bare hex
        return bool(secret) and hmac.compare_digest(given, digest)
    if kind == "basic":
        expected = base64.b64encode(
            f"{config.secrets.get('webhook_username', '')}:{secret}".encode()).decode()
        return bool(secret) and hmac.compare_digest(headers.get("Authorization", ""),
                                                    f"Basic {expected}")
    return False


def _items(rule: Mapping[str, Any], payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = dig(payload, rule.get("items_path")) if rule.get("items_path") else [payload]
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ParseError("no messages where the channel puts them")
    return items


def _field(item: Mapping[str, Any], rule: Mapping[str, Any], name: str,
           required: bool = True) -> str:
    value = dig(item, rule.get("fields", {}).get(name, name))
    if value is None or (required and not str(value).strip()):
        if required:
            raise ParseError(f"missing field {rule.get('fields', {}).get(name, name)!r}")
        return ""
    return clean(value)


def parse_inbound(config: HttpConfig, payload: Mapping[str, Any]) -> list[SmsIn]:
    """The inbound SMS of one callback (batched payloads give several)."""
    rule = config.settings.get("inbound", {})
    out = []
    for item in _items(rule, payload):
        text = _field(item, rule, "text", required=False)
        hex_field = rule.get("fields", {}).get("hex")
        if hex_field and dig(item, hex_field) and str(dig(item, "coding") or "") == "8":
            try:
                text = bytes.fromhex(str(dig(item, hex_field))).decode("utf-16-be")
            except ValueError:
                raise ParseError("hex content is not UCS-2") from None
        out.append(SmsIn(provider=config.provider,
                         provider_message_id=_field(item, rule, "id")[:100],
                         sender=international(_field(item, rule, "sender"))[:40],
                         recipient=_field(item, rule, "recipient", required=False)[:40],
                         text=text,
                         raw={str(k): clean(v) for k, v in item.items()
                              if not isinstance(v, Mapping | list)}))
    return out


def parse_reports(config: HttpConfig, payload: Mapping[str, Any]) -> list[StatusUpdate]:
    """The delivery reports of one callback, their words mapped through the status table."""
    rule = config.settings.get("reports", {})
    table = rule.get("statuses", {})
    out = []
    for item in _items(rule, payload):
        word = _field(item, rule, "status")
        error = _field(item, rule, "error", required=False) or None
        if error in rule.get("no_error", []):
            error = None
        status = (table.get(word) or table.get(word.upper()) or rule.get("unknown")
                  or word.lower())
        if status not in STATUS_RANK:
            raise ParseError(f"unknown status {word!r}")
        out.append(StatusUpdate(provider=config.provider,
                                provider_message_id=_field(item, rule, "id")[:100],
                                status=status, provider_status=word[:100],
                                failure_reason=error, error_code=error[:30] if error else None))
    return out


def answer(config: HttpConfig, kind: str) -> tuple[str, str] | None:
    """The body and content type a callback must be answered with, if the channel says."""
    rule = config.settings.get(kind, {}).get("answer")
    if not rule:
        return None
    return rule.get("body", ""), rule.get("content_type", "text/plain")
