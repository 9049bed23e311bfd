"""Which cooperative's data the signed-in person sees: the one place every page asks."""

from __future__ import annotations

from flask import abort, g

from ..models import Cooperative


def cooperative_ids() -> list[int]:
    """The cooperatives she may see (a coordinator: her own)."""
    return [g.coordinator.cooperative_id]


def current_cooperative() -> Cooperative:
    """The cooperative the pages are showing."""
    coop = g.coordinator.cooperative
    if coop is None:
        abort(404)
    return coop
