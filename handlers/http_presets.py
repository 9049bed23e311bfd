"""Presets of the HTTP channel: the wire formats of Infobip, Jasmin's HTTP API and Kannel.

A channel names a preset and adds its own values (``vars.base_url``, ``sender``) and secrets;
any key of a preset can be overridden by the channel's settings. Facts from the providers'
documentation (see /work/shared/channels.md); where marked *unverified*, a wrong guess costs
a settings change.
"""

from __future__ import annotations

from typing import Any

_SMPP_WORDS = {"DELIVRD": "delivered", "ACCEPTD": "sent", "ENROUTE": "sent", "UNKNOWN": "sent",
               "UNDELIV": "failed", "REJECTD": "failed", "EXPIRED": "expired",
               "DELETED": "failed", "ESME_ROK": "sent"}

INFOBIP: dict[str, Any] = {
    "send": {
        "method": "POST", "url": "{{ settings.base_url }}/sms/3/messages", "content": "json",
        "max_recipients": 100,
        # Our id on each destination: delivery reports name it even if the answer is lost.
        # The webhooks.delivery.url field of the v3 API is *unverified*.
        "body": (
            '{"messages": [{"sender": {{ sender|tojson }}, "destinations": ['
            '{% for m in messages %}{"to": {{ m.to|digits|tojson }}, '
            '"messageId": "sg-{{ m.reference }}"}{{ "," if not loop.last }}{% endfor %}], '
            '"content": {"text": {{ text|tojson }}}, "webhooks": {"delivery": {"url": '
            '{{ (callback ~ "/report?secret=" ~ secrets.webhook_secret)|tojson }}}}}]}'),
        "success_status": [200, 201],
        "results_path": "messages", "result_id": "messageId",
        "result_status": "status.groupName",
        "error_path": "errorCode",
    },
    "auth": {"type": "header", "header": "Authorization", "value": "App {{ secrets.api_key }}"},
    "statuses": {"PENDING": "sent", "DELIVERED": "delivered", "UNDELIVERABLE": "failed",
                 "REJECTED": "failed", "EXPIRED": "expired"},
    "inbound": {"items_path": "results",
                "fields": {"id": "messageId", "sender": "from", "recipient": "to",
                           "text": "text"}},
    "reports": {"items_path": "results",
                "fields": {"id": "messageId", "status": "status.groupName",
                           "error": "error.name"},
                "no_error": ["NO_ERROR"],
                "statuses": {"PENDING": "sent", "DELIVERED": "delivered",
                             "UNDELIVERABLE": "failed", "REJECTED": "failed",
                             "EXPIRED": "expired"}},
    "verify": {"type": "secret", "param": "secret"},
}

JASMIN: dict[str, Any] = {
    "send": {
        "method": "GET", "url": "{{ settings.base_url }}/send", "content": "query",
        "max_recipients": 1,
        "params": {
            "username": "{{ secrets.username }}", "password": "{{ secrets.password }}",
            "to": "{{ to|digits }}", "from": "{{ sender }}",
            # GSM-7 as text; anything else as UCS-2 in hex (an empty value is not sent).
            "coding": "{{ 0 if gsm7 else 8 }}",
            "content": "{{ text if gsm7 else '' }}",
            "hex-content": "{{ '' if gsm7 else text|ucs2hex }}",
            "dlr": "yes", "dlr-level": "3", "dlr-method": "POST",
            "dlr-url": "{{ callback }}/report?secret={{ secrets.webhook_secret }}",
        },
        "success_status": [200],
        "success_regex": '^Success "(?P<id>[^"]+)"',
    },
    "inbound": {"fields": {"id": "id", "sender": "from", "recipient": "to", "text": "content",
                           "hex": "binary"},
                # Anything else and Jasmin delivers the message again.
                "answer": {"body": "ACK/Jasmin", "content_type": "text/plain"}},
    "reports": {"fields": {"id": "id", "status": "message_status"},
                "statuses": _SMPP_WORDS, "unknown": "failed",
                "answer": {"body": "ACK/Jasmin", "content_type": "text/plain"}},
    "verify": {"type": "secret", "param": "secret"},
}

KANNEL: dict[str, Any] = {
    "send": {
        "method": "GET", "url": "{{ settings.base_url }}/cgi-bin/sendsms", "content": "query",
        "max_recipients": 1,
        "params": {
            "username": "{{ secrets.username }}", "password": "{{ secrets.password }}",
            "to": "{{ to }}", "from": "{{ sender }}", "text": "{{ text }}",
            "charset": "UTF-8", "coding": "{{ 0 if gsm7 else 2 }}", "dlr-mask": "31",
            # Kannel fills %d with the report type; our id rides in the URL.
            "dlr-url": ("{{ callback }}/report?secret={{ secrets.webhook_secret }}"
                        "&id=sg-{{ reference }}&status=%d"),
        },
        "success_status": [200, 202],
        "success_regex": r"^(0|3): ",
        "message_id": "sg-{{ reference }}",
    },
    # sms-service get-url: .../inbound?secret=...&id=%I&from=%p&to=%P&text=%a
    "inbound": {"fields": {"id": "id", "sender": "from", "recipient": "to", "text": "text"},
                # A non-empty answer would be sent back to the member as an SMS.
                "answer": {"body": "", "content_type": "text/plain"}},
    "reports": {"fields": {"id": "id", "status": "status"},
                "statuses": {"1": "delivered", "2": "failed", "4": "sent", "8": "sent",
                             "16": "failed"}},
    "verify": {"type": "secret", "param": "secret"},
}

PRESETS: dict[str, dict[str, Any]] = {"infobip": INFOBIP, "jasmin": JASMIN, "kannel": KANNEL}
