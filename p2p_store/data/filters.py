"""The explorer's vocabulary and typed input (#14): stores, limits, shapes (sources, fields, pages),
and every filter, sort, page size and cursor a person sends, checked and typed before any query is
built. User text never becomes an operator or a pattern here."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson import ObjectId

from p2p_store.accounts.directory import clean_text
from p2p_store.data.export import to_jsonable
from p2p_store.errors import InvalidInput

POSTGRESQL = "postgresql"
MONGODB = "mongodb"
STORES = (POSTGRESQL, MONGODB)


MAX_PAGE_SIZE = 200  # rows per page
MAX_EXPORT_ROWS = 5_000  # rows in one export
SAMPLE_SIZE = 500  # documents sampled to describe a collection's fields
SAMPLE_TTL_S = 300.0  # seconds a sample is reused for paging windows
EXACT_COUNT_BELOW = 50_000  # rows: below pg_class.reltuples' estimate, count(*) exactly
WINDOW_ABOVE = 2_000  # documents: smaller collections are paged without windows (cheap anyway)
MAX_FILTERS = 5
MAX_VALUE_CHARS = 200  # characters of one filter value
MAX_TOP = 50  # bars in a value-count chart
MONGO_MAX_TIME_MS = 10_000  # per explorer query on MongoDB
EXAMPLES_PER_FIELD = 3
EXAMPLE_CHARS = 60

OPS = ("eq", "gte", "lte", "contains")
OP_LABELS = {"eq": "=", "gte": "≥", "lte": "≤", "contains": "contains"}
# Which filter operators a kind of field takes; the page offers exactly these.
OPS_FOR_KIND: dict[str, tuple[str, ...]] = {
    "number": ("eq", "gte", "lte"), "date": ("eq", "gte", "lte"), "text": ("eq", "contains"),
    "bool": ("eq",), "id": ("eq",), "json": ("contains",),
}
_INT64 = 2**63


# ------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class IndexInfo:
    """One index: its name, its keys in order (``("is_pinned", -1), ...``), uniqueness and kind."""

    name: str
    keys: tuple[tuple[str, Any], ...]
    unique: bool
    kind: str  # "primary key", "unique", "index", "2dsphere", ...

    @property
    def fields_label(self) -> str:
        parts = []
        for name, direction in self.keys:
            parts.append(name if direction in (1, None) else f"{name} ({'desc' if direction == -1 else direction})")
        return ", ".join(parts)


@dataclass(frozen=True)
class Source:
    """A table or collection with its row count (``estimated`` when not counted exactly) and indexes."""

    store: str
    name: str
    count: int
    estimated: bool
    indexes: tuple[IndexInfo, ...]


@dataclass(frozen=True)
class FieldInfo:
    """A column or a (dotted) document path, and what the explorer may do with it."""

    name: str
    kind: str  # filter kind: number | date | text | bool | id | json | "" (not filterable)
    types: str  # as stored: "varchar(254)" or "string, null" or "array<string>"
    presence: float | None = None  # share of sampled documents holding it (MongoDB only)
    nullable: bool | None = None  # PostgreSQL only
    examples: tuple[str, ...] = ()
    constraints: str = ""
    references: str = ""
    sortable: bool = False
    masked: bool = False
    is_array: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        return () if self.masked else OPS_FOR_KIND.get(self.kind, ())

    @property
    def countable(self) -> bool:
        """Whether a chart of its value counts makes sense (scalars and arrays of scalars)."""
        return bool(self.kind) and not self.masked


@dataclass(frozen=True)
class Filter:
    """``field`` (a known column or sampled path) ``op`` (one of ``OPS``) ``value`` (typed text)."""

    field: str
    op: str
    value: str


@dataclass(frozen=True)
class RowPage:
    """One page of rows: masked, in sort order. ``next_after`` continues it (None: this is the last)."""

    store: str
    name: str
    rows: list[dict[str, Any]]
    columns: tuple[str, ...]
    sort: str
    descending: bool
    page_size: int
    after: tuple[Any, Any] | None = None
    next_after: tuple[Any, Any] | None = None
    queries: int = 1  # round trips the page took (windows)
    notes: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ typed filter values


def _check_store(store: object) -> str:
    if store not in STORES:
        raise InvalidInput(f"Unknown store {str(store)[:40]!r}; pick PostgreSQL or MongoDB.")
    return store  # type: ignore[return-value]


def _parse_number(text: str, field: str) -> int | float:
    try:
        number: int | float = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        raise InvalidInput(f"{field} takes a number; {text[:40]!r} is not one.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidInput(f"{field} takes a finite number.")
    if abs(number) >= _INT64:
        raise InvalidInput(f"{field}: {text[:40]} is out of range.")
    return number


def _parse_datetime(text: str, field: str) -> tuple[datetime, bool]:
    """(moment in UTC, whether only a day was given)."""
    value = text.strip()
    day_only = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InvalidInput(f"{field} takes a date like 2025-03-31 or 2025-03-31T14:30; "
                           f"{value[:40]!r} is not one.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), day_only


def _parse_bool(text: str, field: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "t", "y"):
        return True
    if value in ("false", "no", "0", "f", "n"):
        return False
    raise InvalidInput(f"{field} takes true or false.")


@dataclass(frozen=True)
class _Condition:
    """A typed condition on one field: ops are ours ($eq/$gte/$lt/...), values are typed."""

    field: str
    ops: dict[str, Any]
    contains: str | None = None  # the raw text of a "contains" (escaped where it is used)


def _condition(info: FieldInfo, flt: Filter, *, int_range: int | None = None) -> _Condition:
    """Check one filter against its field and type its value. Never lets user text become an operator."""
    label = info.name
    if flt.op not in info.ops:
        allowed = ", ".join(OP_LABELS[o] for o in info.ops) or "nothing"
        raise InvalidInput(f"{label} cannot be filtered with {OP_LABELS.get(flt.op, str(flt.op)[:20])!r} "
                           f"(it takes {allowed}).")
    text = clean_text(flt.value, field=f"The value for {label}", max_len=MAX_VALUE_CHARS)
    if not text:
        raise InvalidInput(f"Type a value for {label}.")
    if flt.op == "contains":
        return _Condition(info.name, {}, contains=text)
    if info.kind == "number":
        number = _parse_number(text, label)
        if int_range is not None and isinstance(number, int) and abs(number) >= int_range:
            raise InvalidInput(f"{label}: {text[:40]} is out of range.")
        return _Condition(info.name, {{"eq": "$eq", "gte": "$gte", "lte": "$lte"}[flt.op]: number})
    if info.kind == "date":
        moment, day_only = _parse_datetime(text, label)
        if day_only and flt.op == "eq":
            return _Condition(info.name, {"$gte": moment, "$lt": moment + timedelta(days=1)})
        if day_only and flt.op == "lte":
            return _Condition(info.name, {"$lt": moment + timedelta(days=1)})
        return _Condition(info.name, {{"eq": "$eq", "gte": "$gte", "lte": "$lte"}[flt.op]: moment})
    if info.kind == "bool":
        return _Condition(info.name, {"$eq": _parse_bool(text, label)})
    if info.kind == "id":
        return _Condition(info.name, {"$eq": _parse_id(text, label, info)})
    return _Condition(info.name, {"$eq": text})


def _parse_id(text: str, label: str, info: FieldInfo) -> Any:
    if "objectId" in info.types:
        if not ObjectId.is_valid(text):
            raise InvalidInput(f"{label} takes a 24-character object id.")
        return ObjectId(text)
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(f"{label} takes an id like 3f2b…-…; {text[:40]!r} is not one.") from None


def _as_filters(filters: Iterable[Any] | None) -> list[Filter]:
    out = []
    for item in filters or ():
        if isinstance(item, Filter):
            flt = item
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            flt = Filter(*item)
        elif isinstance(item, Mapping):
            flt = Filter(item.get("field"), item.get("op"), item.get("value"))  # type: ignore[arg-type]
        else:
            raise InvalidInput("A filter is a field, an operator and a value.")
        if not isinstance(flt.field, str) or not isinstance(flt.op, str):
            raise InvalidInput("A filter is a field, an operator and a value.")
        out.append(flt)
    if len(out) > MAX_FILTERS:
        raise InvalidInput(f"At most {MAX_FILTERS} filters at a time.")
    return out


def _known(fields: Mapping[str, FieldInfo], name: str, what: str) -> FieldInfo:
    info = fields.get(name) if isinstance(name, str) else None
    if info is None:
        raise InvalidInput(f"Unknown {what} {str(name)[:60]!r}; pick one from the list.")
    if info.masked:
        raise InvalidInput(f"{name} is secret: it cannot be sorted, filtered or counted.")
    return info


def _page_size(page_size: object) -> int:
    try:
        size = int(page_size)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidInput("Page size must be a whole number.") from None
    return min(max(size, 1), MAX_PAGE_SIZE)


_CURSOR_TYPES = (str, int, float, bool, datetime, date, uuid.UUID, ObjectId, Decimal, type(None))
_STALE_CURSOR = "The page position is out of date; start again from the first page."


def _after(after: object) -> tuple[Any, Any] | None:
    """A keyset cursor (sort value, id) as returned in ``next_after``: two plain values, nothing else."""
    if after is None:
        return None
    if isinstance(after, (list, tuple)) and len(after) == 2 and all(isinstance(v, _CURSOR_TYPES) for v in after):
        return (after[0], after[1])
    raise InvalidInput(_STALE_CURSOR)


def _display(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)[:200]
    return str(value)[:200]



def order_sort_names(fields: Mapping[str, FieldInfo]) -> list[str]:
    """The sortable fields, a date index first where there is one, else the email (people); `_id` is
    not first when another index exists: the embedded server sorts by `_id` with a scan (#17)."""
    names = [f.name for f in fields.values() if f.sortable]
    preferred = [n for n in ("created_at", "at", "last_failure_at", "updated_at", "email") if n in names]
    first = preferred[0] if preferred else None
    return ([first] if first else []) + [n for n in names if n != first]
