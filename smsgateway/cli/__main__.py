"""``python -m smsgateway.cli``: the ``smsgateway`` command (tests and the dev server use it)."""

from . import main

main()
