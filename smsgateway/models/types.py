"""Column types shared by the models."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import JSON, Enum, Numeric
from sqlalchemy.orm import mapped_column

#: Quantities of produce (litres, kilograms) to the gram or millilitre.
Quantity = Annotated[Decimal, mapped_column(Numeric(14, 3))]
#: Money in the cooperative's currency, to the centime.
Money = Annotated[Decimal, mapped_column(Numeric(14, 4))]
#: Free-form JSON (texts per language, filters, provider payloads).
JsonDict = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]
#: A JSON list (group names).
JsonList = Annotated[list[Any], mapped_column(JSON, default=list)]


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum: VARCHAR with a CHECK, the same on SQLite and PostgreSQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in cls),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
