"""Gunicorn settings for the web process (``-c python:smsgateway.gunicorn_conf``).

Loading this file validates the configuration first, so a wrong value stops the server with
one line naming it instead of a traceback per worker.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

from smsgateway.config import is_loopback, load_settings
from smsgateway.exceptions import ConfigError
from smsgateway.logs import GunicornLogger
from smsgateway.multiproc import child_exit, on_exit, prepare_dir  # noqa: F401 (hooks)

try:
    _settings = load_settings()
except ConfigError as _error:
    print(_error, file=sys.stderr)
    sys.exit(2)

# A platform that sets PORT expects the server on every interface.
bind = f"0.0.0.0:{_settings.server.port}" if "PORT" in os.environ else (
    f"{_settings.server.host}:{_settings.server.port}"
)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
# USSD hops must answer in well under a second; a request still running after 30 s is stuck.
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# The path without its query string: Africa's Talking callbacks carry their secret there.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# JSON lines with request ids, phones masked; workers share one directory of metrics.
logger_class = GunicornLogger
prepare_dir()


def on_starting(server: Any) -> None:
    """Refuse to serve the password-less simulator anywhere but on loopback.

    It lists members' numbers and dials as any of them: ``smsgateway dev`` turns it on for
    127.0.0.1; on any other address it needs SIMULATOR_PASSWORD.
    """
    simulator = _settings.simulator
    if not simulator.enabled or simulator.password:
        return
    exposed = [address for address in server.cfg.address
               if isinstance(address, tuple) and not is_loopback(str(address[0]))]
    if exposed:
        print(f"simulator.enabled: the simulator needs SIMULATOR_PASSWORD to listen on "
              f"{exposed[0][0]} (only loopback may go without)", file=sys.stderr)
        sys.exit(2)


def post_worker_init(_worker: Any) -> None:
    """Set the worker's loaded app aside from the garbage collector's full passes.

    Everything imported and built at start (Flask, SQLAlchemy's mappers, the catalogs,
    pydantic's models) lives as long as the worker; a full collection would walk all of it
    again every few hundred requests, which cost inbound SMS several percent of their CPU
    (docs/benchmarks.md). ``gc.freeze`` moves it to a generation the collector skips.
    """
    gc.collect()
    gc.freeze()
