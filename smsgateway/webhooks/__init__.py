"""Provider webhooks: ``/webhooks/<provider>/ussd|sms|delivery|status``.

One blueprint; the USSD and SMS routes live in their own modules and attach to it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, request

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def require_africastalking_secret(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 unless the request carries ``?secret=`` equal to AFRICASTALKING_WEBHOOK_SECRET.

    Africa's Talking signs nothing, so a secret in the callback URL is what proves the caller.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        expected = current_app.config["SETTINGS"].africastalking.webhook_secret
        if expected:
            given = request.args.get("secret", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                abort(403)
        return view(*args, **kwargs)

    return wrapper


from . import sms, ussd  # noqa: E402,F401  (routes attach to bp)
