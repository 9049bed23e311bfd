"""One adapter per provider: parse its webhooks into neutral messages, render replies, send.

Nothing here touches the database or Redis, and nothing imports ``smsgateway`` or ``menus``.
"""
