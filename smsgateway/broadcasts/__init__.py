"""Broadcasts: plan one (recipients, encoding, cost), store it, start its fan-out."""

from .planning import LanguagePlan, Plan, create, plan, start, start_fan_out
from .progress import Progress, progress

__all__ = ["LanguagePlan", "Plan", "Progress", "create", "plan", "progress", "start",
           "start_fan_out"]
