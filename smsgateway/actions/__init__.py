"""What menus may do, by name: loaders that fetch what a screen shows, and decisions.

Every action takes the hop's :class:`Context` and the machine's :class:`~menus.machine.Call`
and answers a :class:`~menus.machine.Result`. Decisions commit their own transaction and
enqueue the confirmation SMS only after the commit. :func:`build_actions` makes the table
the USSD hop runs them from.
"""

from __future__ import annotations

from types import ModuleType

from . import coordinators, members, memberships, pins
from .base import ACTION_NAME, Action, Context, run

#: The modules whose ``@action`` functions the menus may call.
MODULES = (members, coordinators, pins, memberships)


def build_actions(modules: tuple[ModuleType, ...] = MODULES) -> dict[str, Action]:
    """The actions of ``modules`` by the names the menu YAML calls them; a name used twice fails."""
    table: dict[str, Action] = {}
    for module in modules:
        for value in vars(module).values():
            name = getattr(value, ACTION_NAME, None)
            if name is None or not callable(value):
                continue
            if name in table and table[name] is not value:
                raise ValueError(f"menu action {name!r} defined twice")
            table[name] = value
    return table


__all__ = ["Action", "Context", "build_actions", "run"]
