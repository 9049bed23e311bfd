"""Logs: JSON lines (or plain text in a terminal), one request id from web to worker, scrubbed.

Every handler (ours, gunicorn's, RQ's, pytest's) gets :class:`ScrubFilter`: it renders the
message once, masks phone numbers (``+2126XXXX0004``) and ``pin=``/``password=``/``secret=``
values, and stamps the record with the request id of the web request or of the job that the
request enqueued. The code never logs PINs, codes or passwords; the filter is the safety net.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import Flask, Response, g, request
from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter
from rq.job import Job

REQUEST_ID_HEADER = "X-Request-ID"
#: An incoming id is kept only when it is short and plain (it is written in every log line).
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
#: Where a job carries the id of the request that enqueued it.
META_KEY = "request_id"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(_rid)s]: %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s"

#: Loggers kept at WARNING whatever the level: SQLAlchemy's engine at INFO/DEBUG writes every
#: statement's parameters (phones, message texts); alembic announces its plugins at each start.
QUIET_LOGGERS = {"sqlalchemy.engine": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}

_request_id: ContextVar[str | None] = ContextVar("smsgateway_request_id", default=None)

# E.164 (+212612345678), international 00 prefix, Moroccan numbers without + or with a 0.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{8,15}|00\d{9,15}|212[5-7]\d{8}|0[5-7]\d{8})(?!\d)"
)
# key=value or key: value where the key names a secret; the value is replaced whole.
# A bare "code" is a secret unless it is a status, error, service or exit code.
_SECRET = re.compile(
    r"(?i)\b(pin|otp|password|passwd|secret|token|api_key|apikey|auth_token|authorization|"
    r"(?:one_time_|reset_|verification_)?code(?<!status code)(?<!status_code)(?<!error code)"
    r"(?<!service code)(?<!exit code))(\"?\s*[=:]\s*\"?)(?:Basic |Bearer )?[^\s&\"',;)}]+"
)


# What every match of _PHONE contains (eight digits in a row), and of _SECRET (a stem of its
# keywords). Most lines (an access line, a job's start) have neither, and skip both passes:
# a substring test is a tenth of the cost of either pattern's search.
_EIGHT_DIGITS = re.compile(r"\d{8}")
_SECRET_STEMS = ("pin", "otp", "pass", "secret", "token", "api", "auth", "code")


def mask_phone(number: str) -> str:
    """``+212600000004`` -> ``+2126XXXX0004``: the country and the last four digits stay."""
    keep_head = 5 if number.startswith("+") else 4
    if len(number) <= keep_head + 4:
        return "X" * len(number)
    return number[:keep_head] + "X" * (len(number) - keep_head - 4) + number[-4:]


def scrub(text: str) -> str:
    """``text`` with phone numbers masked and secret values replaced by ``***``."""
    # Only in ASCII does a lower-case copy hold every stem _SECRET's (?i) would match (that
    # also takes "ı" for an i and "ſ" for an s).
    lowered = text.lower() if text.isascii() else None
    if lowered is None or any(stem in lowered for stem in _SECRET_STEMS):
        text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _PHONE.sub(_masked, text) if _EIGHT_DIGITS.search(text) else text


def _masked(match: re.Match[str]) -> str:
    return mask_phone(match.group(0))


def choose_request_id(incoming: str | None) -> str:
    """A sane incoming ``X-Request-ID``, or a new random one."""
    if incoming and SANE_REQUEST_ID.match(incoming):
        return incoming
    # 32 random hex digits, as a UUID's hex, without building a UUID on every request.
    return os.urandom(16).hex()


#: What every LogRecord has; anything else on a record came from ``extra=`` and is scrubbed too.
_STANDARD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "request_id"}


class ScrubFilter(logging.Filter):
    """Masks phones and secrets in the message, its arguments, extras and traceback."""

    _exceptions = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (once); never drops it."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        record._rid = record.request_id or "-"  # the plain format's spelling of "none"
        if getattr(record, "_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = scrub(message), None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in _STANDARD_FIELDS and key[0] != "_":
                setattr(record, key, scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exceptions.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            # Formatters (JSON's too) then print the scrubbed text, not a fresh traceback.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        record._scrubbed = True
        return True


def make_formatter(fmt: str) -> logging.Formatter:
    """The JSON formatter, or the plain one, for ``fmt`` (``json`` or ``plain``)."""
    if fmt == "plain":
        return logging.Formatter(PLAIN_FORMAT)
    return JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="ts", json_ensure_ascii=False)


def resolve_format(setting: str, stream: Any = None) -> str:
    """``auto`` is plain in a terminal (``make run``) and JSON anywhere else."""
    if setting != "auto":
        return setting
    stream = stream or sys.stderr
    return "plain" if getattr(stream, "isatty", lambda: False)() else "json"


class HousekeepingFilter(logging.Filter):
    """RQ's line per registry cleaning, kept only when its logger is at DEBUG.

    Our workers run maintenance every 15 s (the sweep rides on it), not RQ's 10 minutes, so
    these lines would be four in every 15 s of an idle worker's log and bury what matters.
    """

    ROUTINE = ("Worker %s: cleaning registries", "Worker %s: cleaning group registries")

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a routine cleaning line unless DEBUG is on for its logger."""
        if isinstance(record.msg, str) and record.msg.startswith(self.ROUTINE):
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def install_filter(logger: logging.Logger) -> None:
    """Give each handler of ``logger`` the scrub filter (once)."""
    for handler in logger.handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())


def configure(fmt: str = "auto", level: str = "INFO") -> None:
    """Set up the root logger once per process; scrub every handler already attached."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(make_formatter(resolve_format(fmt, handler.stream)))
        root.addHandler(handler)
        root.setLevel(level)
    for name in ("", "gunicorn.error", "gunicorn.access", "rq.worker"):
        install_filter(logging.getLogger(name))
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
    rq_worker = logging.getLogger("rq.worker")
    if not any(isinstance(f, HousekeepingFilter) for f in rq_worker.filters):
        rq_worker.addFilter(HousekeepingFilter())


def init_app(app: Flask) -> None:
    """Configure logging from the settings and give every request an id."""
    settings = app.config["SETTINGS"].logging
    configure(settings.format, settings.level)
    app.before_request(_start_request)
    app.after_request(_tag_response)
    app.teardown_request(_end_request)


def _start_request() -> None:
    request_id = choose_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.request_id = request_id
    g.request_id_token = _request_id.set(request_id)


def _tag_response(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _end_request(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _request_id.reset(token)


class TracedJob(Job):
    """An RQ job that carries the id of the request that enqueued it in its meta."""

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> TracedJob:
        """Create the job as RQ does, then note the current request id."""
        job = super().create(*args, **kwargs)
        request_id = _request_id.get()
        if request_id and META_KEY not in job.meta:
            job.meta[META_KEY] = request_id
        return job  # type: ignore[return-value]


@contextmanager
def job_context(job: Job) -> Iterator[None]:
    """Log inside a job with the request id it carries (or the job's own id)."""
    token = _request_id.set(job.meta.get(META_KEY) or f"job:{job.id}")
    try:
        yield
    finally:
        _request_id.reset(token)


class GunicornLogger(glogging.Logger):
    """Gunicorn's logger with our formatter, the scrub filter and the request id."""

    def setup(self, cfg: Any) -> None:
        """Gunicorn's handlers, then our format and filter on each of them."""
        super().setup(cfg)
        from .config import load_settings

        fmt = load_settings().logging.format
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                stream = getattr(handler, "stream", None)
                handler.setFormatter(make_formatter(resolve_format(fmt, stream)))
            install_filter(log)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """The access line, with the request id the app put on the response."""
        headers = {str(k).lower(): v for k, v in (resp.headers or [])}
        token = _request_id.set(headers.get(REQUEST_ID_HEADER.lower()))
        try:
            super().access(resp, req, environ, request_time)
        finally:
            _request_id.reset(token)
