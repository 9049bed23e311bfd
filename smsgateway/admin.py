"""The operators' view of the queues (``/admin/rq``), behind the administrator's password.

Not rq-dashboard: its 0.9 release checks no CSRF token (requeue-all even answers a GET), keeps
the Redis connection on the app object, and imports ``six`` without declaring it. This view is
small: queues in priority order, their registries, failed jobs with the last line of their
error, and requeue/delete buttons that post the session's CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from .dashboard.auth import csrf_token
from .logs import scrub
from .metrics import queue_states
from .queues import PRIORITY
from .redisconn import get_redis

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Failed jobs listed per queue (the newest first); the rest are counted.
FAILED_SHOWN = 50
REALM = 'Basic realm="smsgateway operators", charset="UTF-8"'


def admin_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """The one gate for operator pages: ``ADMIN_PASSWORD`` by HTTP basic auth, until accounts.

    Unset, the pages do not exist (404). Any user name is accepted with the password.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        password = current_app.config["SETTINGS"].admin.password
        if not password:
            abort(404)
        auth = request.authorization
        given = (auth.password or "") if auth is not None and auth.type == "basic" else ""
        if not hmac.compare_digest(given.encode(), password.encode()):
            return Response("401 Unauthorized\n", 401, {"WWW-Authenticate": REALM,
                                                       "Content-Type": "text/plain"})
        return view(*args, **kwargs)

    return wrapper


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _failed_jobs(queue: Queue) -> list[dict[str, Any]]:
    registry = queue.failed_job_registry
    ids = registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True, cleanup=False)
    jobs = []
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is not None:
            result = job.latest_result()
            error = result.exc_string if result is not None else None
            jobs.append({"id": job.id, "func": job.func_name, "ended_at": job.ended_at,
                         "error": scrub(_last_line(error))})
    return jobs


@bp.get("/rq")
@admin_required
def queues() -> ResponseReturnValue:
    """Queues in the order workers serve them, with their registries and failed jobs."""
    connection = get_redis()
    states = queue_states(connection)
    failed = {name: _failed_jobs(Queue(name, connection=connection)) for name in PRIORITY}
    return render_template("admin/queues.html", states=states, failed=failed,
                           csrf_token=csrf_token)


@bp.post("/rq/<queue_name>/failed/<job_id>/<action>")
@admin_required
def failed_job(queue_name: str, job_id: str, action: str) -> ResponseReturnValue:
    """Requeue or delete one failed job (the form carries the CSRF token)."""
    expected = session.get("csrf", "")
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(400, "invalid CSRF token")
    if queue_name not in PRIORITY or action not in ("requeue", "delete"):
        abort(404)
    registry = Queue(queue_name, connection=get_redis()).failed_job_registry
    if job_id not in registry.get_job_ids(cleanup=False):
        abort(404)
    try:
        if action == "requeue":
            registry.requeue(job_id)
        else:
            registry.remove(job_id, delete_job=True)
    except NoSuchJobError:
        abort(404)
    flash(f"{action}: {job_id}")
    return redirect(url_for(".queues"))
