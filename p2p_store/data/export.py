"""Rows as files and as plain values (explorer, console, Users page): CSV (RFC 4180), JSON, flat rows.

Spreadsheet formula injection (#14, OWASP "CSV Injection"): a text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` in every CSV, so a
spreadsheet shows it as text instead of running it. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128, ObjectId

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


_LINE_THEN_FORMULA = re.compile(r"([\r\n])(?=[=+\-@\t\r])")


def neutralise_cell(value: Any) -> Any:
    """A cell as a spreadsheet may open it: formula-leading text gets a leading ``'``, and so does
    each line inside it (a writer that leaves a CR unquoted would start a row with it)."""
    if not isinstance(value, str):
        return value
    value = _LINE_THEN_FORMULA.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_LEADS) else value


def to_jsonable(value: Any) -> Any:
    """The value as JSON can hold it (dates as ISO text, ids as text), for ``st.json`` and JSON files."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    return str(value)  # UUID, ObjectId, Decimal, Decimal128, ranges, intervals...


def flatten_row(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted columns; arrays become JSON text (for tables and CSV)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_row(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(to_jsonable(value), ensure_ascii=False)
        elif isinstance(value, (uuid.UUID, ObjectId, Decimal, Decimal128)):
            flat[name] = str(value)
        elif isinstance(value, Mapping):
            flat[name] = "{}"
        else:
            flat[name] = value
    return flat


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return neutralise_cell(value)


def rows_as_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV of the rows, nested fields flattened to dotted columns (columns in order of first appearance),
    formula-leading cells neutralised (header names included)."""
    flat = [flatten_row(r) for r in rows]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a CR inside a cell is then quoted
    writer.writerow([neutralise_cell(c) for c in columns])
    for r in flat:
        writer.writerow([_csv_cell(r.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def rows_as_json(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The rows as a JSON array (nested objects kept), UTF-8. JSON is not opened as a spreadsheet."""
    return json.dumps(to_jsonable(list(rows)), ensure_ascii=False, indent=1).encode("utf-8")
