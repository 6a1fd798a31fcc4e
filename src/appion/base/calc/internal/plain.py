"""Database rows as plain JSON values (pure): what ``details`` reports of a run's
parameter rows."""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Mapping
from typing import Any

#: Bookkeeping columns every row has; not parameters.
BOOKKEEPING = ("id", "def_timestamp")


def plain_value(value: Any) -> Any:
    """A column value as JSON: numbers (a non-finite float as ``None``), strings, booleans,
    ``None``; a date as ISO 8601, bytes as UTF-8 text, anything else as its ``str``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return plain_value(float(value))
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if hasattr(value, "item"):  # a NumPy scalar
        return plain_value(value.item())
    return str(value)


def plain_row(row: Mapping[str, Any] | None, leave_out: tuple[str, ...] = BOOKKEEPING
              ) -> dict[str, Any]:
    """A row's columns as plain values, sorted by name, bookkeeping columns left out;
    ``{}`` for no row."""
    if not row:
        return {}
    return {key: plain_value(row[key]) for key in sorted(row) if key not in leave_out}


__all__ = ["BOOKKEEPING", "plain_row", "plain_value"]
