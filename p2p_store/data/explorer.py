"""The data explorer (issue 9): what both stores hold, shown the way pgAdmin and Compass show it.

Sources (PostgreSQL tables of the models, MongoDB collections of the app database) with their
counts and indexes; their fields (columns with constraints, or the dotted paths found in a bounded
sample of documents); pages of rows sorted by an indexed field, filtered by typed values; exports
and value counts. Everything here only reads.

Secrets never leave this module unmasked: the columns named in ``SECRET_COLUMNS`` are replaced by
``MASK`` in SQL (the hash is never even fetched), in documents, in exports and, through
:func:`mask_row`, in the query console's results. They cannot be sorted, filtered or counted by.

Paging is keyset, never ``skip``: a page is "the next ``page_size`` rows after (sort value, id)".
On the embedded MongoDB-protocol server a query costs what its index lookup returns (``limit``
is applied after the whole candidate set is read, measured 0.15 s per 10k documents), so a
MongoDB page reads one bounded *window* of the sort field's index at a time: the window's width
comes from the sort field's values in the cached sample (``SAMPLE_SIZE`` random documents), so a
page reads about ``2 × page_size`` documents whatever the collection's size. Windows only change
cost, never results: a window that comes up short is followed by a wider one until the page is
full or the index is exhausted.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from bson import Decimal128, ObjectId
from sqlalchemy import Table, func, literal, select
from sqlalchemy.dialects import postgresql as pg_types

from p2p_store.accounts.directory import clean_text
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Base

POSTGRESQL = "postgresql"
MONGODB = "mongodb"
STORES = (POSTGRESQL, MONGODB)

MASK = "•••"
# The one place that knows which columns are secret (table -> columns). Masked by column name.
SECRET_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("password_hash",), "user_sessions": ("token_hash",)}
SECRET_NAMES = frozenset(name for names in SECRET_COLUMNS.values() for name in names)

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


# ------------------------------------------------------------------ masking (the one place)


def is_secret(column: object) -> bool:
    """True for a column that is never shown (by name, whatever table or query it comes from)."""
    return isinstance(column, str) and column.lower() in SECRET_NAMES


# argon2 password hashes and SHA-256 hex digests (the sign-in token hashes), wherever they appear.
_SECRET_VALUE = re.compile(r"\$argon2(?:id|i|d)\$[^\s\"',)}\]]+|(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def mask_text(text: str) -> str:
    """Free text (a console cell, an error line) with anything shaped like a stored secret masked."""
    return _SECRET_VALUE.sub(MASK, text)


def mask_value(column: object, value: Any) -> Any:
    """``value`` as it may be shown under the column name ``column``."""
    if is_secret(column):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(None, v) for v in value]
    return value


def mask_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row or document with every secret column (at any depth) masked."""
    return {key: mask_value(key, value) for key, value in row.items()}


# ------------------------------------------------------------------ plain values for pages and files


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


def rows_as_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV of the rows, nested fields flattened to dotted columns (columns in order of first appearance)."""
    flat = [flatten_row(r) for r in rows]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in flat:
        writer.writerow({k: _csv_cell(v) for k, v in r.items()})
    return out.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def rows_as_json(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The rows as a JSON array (nested objects kept), UTF-8."""
    return json.dumps(to_jsonable(list(rows)), ensure_ascii=False, indent=1).encode("utf-8")


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


# ------------------------------------------------------------------ sources


def list_sources(*, store: str) -> list[Source]:
    """The store's tables (from the models) or collections (the app database's), with counts and indexes."""
    if _check_store(store) == POSTGRESQL:
        return [_pg_source(table) for table in _pg_tables().values()]
    db = mongo.get_db()
    return [_mongo_source(db, name) for name in list_collections()]


def describe_fields(*, store: str, name: str) -> list[FieldInfo]:
    """Columns of a table (types, nullability, constraints, foreign keys) or the fields of a collection
    found in a bounded sample (dotted paths, types, presence, examples)."""
    if _check_store(store) == POSTGRESQL:
        return list(_pg_fields(name).values())
    return list(_mongo_fields(_collection_name(name)).values())


def sort_fields(*, store: str, name: str) -> list[str]:
    """The fields a page may be sorted by: indexed (leading index keys), never secret; default first."""
    fields = (_pg_fields(name) if _check_store(store) == POSTGRESQL
              else _mongo_fields(_collection_name(name)))
    names = [f.name for f in fields.values() if f.sortable]
    preferred = [n for n in ("created_at", "at", "last_failure_at", "updated_at") if n in names]
    first = preferred[0] if preferred else None
    return ([first] if first else []) + [n for n in names if n != first]


def browse_rows(*, store: str, name: str, sort: str | None = None, descending: bool = False,
                filters: Iterable[Any] | None = None, after: Sequence[Any] | None = None,
                page_size: int = 50) -> RowPage:
    """One page of rows after ``after`` (the previous page's ``next_after``), sorted by an indexed field
    (then by primary key / ``_id``), filtered. Secret columns come back masked."""
    store = _check_store(store)
    size = _page_size(page_size)
    cursor = _after(after)
    flts = _as_filters(filters)
    if store == POSTGRESQL:
        return _pg_browse(name, sort, bool(descending), flts, cursor, size)
    return _mongo_browse(_collection_name(name), sort, bool(descending), flts, cursor, size)


def export_rows(*, store: str, name: str, sort: str | None = None, descending: bool = False,
                filters: Iterable[Any] | None = None, limit: int = MAX_EXPORT_ROWS,
                fmt: str = "csv") -> bytes:
    """Up to ``limit`` (at most MAX_EXPORT_ROWS) rows of the filtered, sorted view as CSV or JSON."""
    if fmt not in ("csv", "json"):
        raise InvalidInput("Export as csv or json.")
    try:
        limit = min(max(int(limit), 1), MAX_EXPORT_ROWS)
    except (TypeError, ValueError):
        raise InvalidInput("The export size must be a whole number.") from None
    rows: list[dict[str, Any]] = []
    after = None
    while len(rows) < limit:
        page = browse_rows(store=store, name=name, sort=sort, descending=descending, filters=filters,
                           after=after, page_size=min(MAX_PAGE_SIZE, limit - len(rows)))
        rows.extend(page.rows)
        if page.next_after is None:
            break
        after = page.next_after
    return rows_as_csv(rows) if fmt == "csv" else rows_as_json(rows)


def value_counts(*, store: str, name: str, field: str, filters: Iterable[Any] | None = None,
                 top: int = 20) -> list[dict[str, Any]]:
    """The ``top`` most frequent values of ``field`` (array fields: of their elements) under the filters,
    as ``[{"value": str, "count": int}]``, most frequent first."""
    try:
        top = min(max(int(top), 1), MAX_TOP)
    except (TypeError, ValueError):
        raise InvalidInput("Top N must be a whole number.") from None
    flts = _as_filters(filters)
    if _check_store(store) == POSTGRESQL:
        return _pg_value_counts(name, field, flts, top)
    return _mongo_value_counts(_collection_name(name), field, flts, top)


def default_sort(*, store: str, name: str) -> str:
    """The sort a page opens with (a date index where there is one)."""
    names = sort_fields(store=store, name=name)
    return names[0] if names else ("_id" if store == MONGODB else "")


def _display(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)[:200]
    return str(value)[:200]


# ------------------------------------------------------------------ PostgreSQL


def _pg_tables() -> dict[str, Table]:
    return dict(Base.metadata.tables)


def _pg_table(name: object) -> Table:
    table = _pg_tables().get(name) if isinstance(name, str) else None
    if table is None:
        raise NotFound(f"No table {str(name)[:60]!r} in PostgreSQL; pick one from the list.")
    return table


def _pg_count(table: Table) -> tuple[int, bool]:
    """pg_class.reltuples where the table is big (an exact count would scan it), else count(*)."""
    with pg.new_session() as session:
        estimate = session.execute(sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"),
                                   {"name": table.name}).scalar()
        if estimate is not None and estimate >= EXACT_COUNT_BELOW:
            return int(estimate), True
        return int(session.scalar(select(func.count()).select_from(table)) or 0), False


def _pg_indexes(name: str) -> tuple[IndexInfo, ...]:
    inspector = sa.inspect(pg.get_engine())
    out = []
    pk = inspector.get_pk_constraint(name)
    if pk and pk.get("constrained_columns"):
        out.append(IndexInfo(pk.get("name") or "primary key", tuple((c, 1) for c in pk["constrained_columns"]),
                             True, "primary key"))
    for ix in inspector.get_indexes(name):
        names = ix.get("column_names") or []
        expressions = ix.get("expressions") or names
        cols = [c if c is not None else str(expressions[i]) for i, c in enumerate(names)]
        sorting = ix.get("column_sorting") or {}
        keys = tuple((c, -1 if "desc" in sorting.get(c, ()) else 1) for c in cols)
        out.append(IndexInfo(ix["name"], keys, bool(ix.get("unique")), "unique" if ix.get("unique") else "index"))
    return tuple(out)


def _pg_source(table: Table) -> Source:
    count, estimated = _pg_count(table)
    return Source(POSTGRESQL, table.name, count, estimated, _pg_indexes(table.name))


def _pg_kind(column_type: Any) -> str:
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, (sa.Integer, sa.Numeric, sa.Float)):
        return "number"
    if isinstance(column_type, (sa.DateTime, sa.Date)):
        return "date"
    if isinstance(column_type, (sa.Uuid, pg_types.UUID)):
        return "id"
    if isinstance(column_type, (sa.JSON, pg_types.JSONB)):
        return "json"
    if isinstance(column_type, (sa.String, sa.Text)):
        return "text"
    return ""


def _pg_fields(name: object) -> dict[str, FieldInfo]:
    table = _pg_table(name)
    engine = pg.get_engine()
    inspector = sa.inspect(engine)
    columns = inspector.get_columns(table.name)
    pk = set((inspector.get_pk_constraint(table.name) or {}).get("constrained_columns") or [])
    leading = set(pk)
    constraints: dict[str, list[str]] = {c["name"]: [] for c in columns}
    for c in pk:
        constraints.setdefault(c, []).append("primary key")
    for ix in inspector.get_indexes(table.name):
        cols = [c for c in (ix.get("column_names") or []) if c]
        if cols:
            leading.add(cols[0])
            if ix.get("unique") and len(cols) == 1:
                constraints.setdefault(cols[0], []).append("unique")
    for uq in inspector.get_unique_constraints(table.name):
        cols = uq.get("column_names") or []
        if cols:
            leading.add(cols[0])
            if len(cols) == 1 and "unique" not in constraints.get(cols[0], []):
                constraints.setdefault(cols[0], []).append("unique")
    for ck in inspector.get_check_constraints(table.name):
        text = str(ck.get("sqltext", ""))
        for c in constraints:
            if re.search(rf"\b{re.escape(c)}\b", text):
                constraints[c].append(f"check ({text})")
    references: dict[str, str] = {}
    for fk in inspector.get_foreign_keys(table.name):
        ondelete = (fk.get("options") or {}).get("ondelete")
        target = ", ".join(f"{fk['referred_table']}.{c}" for c in fk["referred_columns"])
        for c in fk["constrained_columns"]:
            references[c] = target + (f" (on delete {ondelete})" if ondelete else "")
    fields = {}
    for col in columns:
        cname = col["name"]
        masked = is_secret(cname)
        kind = _pg_kind(col["type"])
        default = col.get("default")
        notes = list(constraints.get(cname, []))
        if default:
            notes.append(f"default {default}")
        fields[cname] = FieldInfo(
            name=cname, kind=kind, types=col["type"].compile(dialect=engine.dialect).lower(),
            nullable=bool(col.get("nullable")),
            constraints="; ".join(notes), references=references.get(cname, ""),
            sortable=cname in leading and not masked and kind not in ("json", ""), masked=masked)
    return fields


def _pg_select_columns(table: Table) -> list[Any]:
    return [literal(MASK).label(c.name) if is_secret(c.name) else c for c in table.columns]


def _pg_where(table: Table, fields: Mapping[str, FieldInfo], flts: Sequence[Filter]) -> list[Any]:
    conds = []
    for flt in flts:
        info = _known(fields, flt.field, "column")
        column = table.c[info.name]
        int_range = None
        if isinstance(column.type, sa.Integer):
            int_range = 2**63 if isinstance(column.type, sa.BigInteger) else 2**31
            if isinstance(column.type, sa.SmallInteger):
                int_range = 2**15
        cond = _condition(info, flt, int_range=int_range)
        if cond.contains is not None:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", cond.contains) + "%"
            target = column if info.kind == "text" else sa.cast(column, sa.Text)
            conds.append(target.ilike(pattern, escape="\\"))
            continue
        for op, value in cond.ops.items():
            conds.append({"$eq": column.__eq__, "$gte": column.__ge__, "$lte": column.__le__,
                          "$lt": column.__lt__}[op](value))
    return conds


def _pg_browse(name: object, sort: str | None, descending: bool, flts: Sequence[Filter],
               after: tuple[Any, Any] | None, size: int) -> RowPage:
    table = _pg_table(name)
    fields = _pg_fields(table.name)
    pk_cols = list(table.primary_key.columns)
    if len(pk_cols) != 1:
        raise InvalidInput(f"{table.name} has no single-column primary key to page by.")
    pk = pk_cols[0]
    sort = sort or default_sort(store=POSTGRESQL, name=table.name) or pk.name
    info = _known(fields, sort, "sort column")
    if not info.sortable:
        allowed = ", ".join(sort_fields(store=POSTGRESQL, name=table.name))
        raise InvalidInput(f"{sort} is not indexed; sort by one of {allowed}.")
    col = table.c[sort]
    stmt = select(*_pg_select_columns(table)).where(sa.and_(sa.true(), *_pg_where(table, fields, flts)))
    if col is pk:
        order = [pk.desc() if descending else pk.asc()]
        if after is not None:
            stmt = stmt.where(pk < after[1] if descending else pk > after[1])
    else:
        order = [col.desc().nulls_last() if descending else col.asc().nulls_last(),
                 pk.desc() if descending else pk.asc()]
        if after is not None:
            value, key = after
            beyond_key = pk < key if descending else pk > key
            if value is None:  # inside the trailing group of NULLs
                stmt = stmt.where(col.is_(None), beyond_key)
            else:
                beyond = col < value if descending else col > value
                stmt = stmt.where(sa.or_(beyond, sa.and_(col == value, beyond_key), col.is_(None)))
    stmt = stmt.order_by(*order).limit(size + 1)
    try:
        with pg.new_session() as session:
            rows = [dict(r._mapping) for r in session.execute(stmt)]
    except sa.exc.StatementError as exc:
        # A value of the wrong type for its column (a stale or forged cursor): a message, not a crash.
        # Store failures (OperationalError and friends) are not the person's fault: they go on up.
        if isinstance(exc, sa.exc.DBAPIError) and not isinstance(exc, (sa.exc.DataError, sa.exc.ProgrammingError)):
            raise
        raise InvalidInput(_STALE_CURSOR if after is not None else
                           "A filter value does not fit its column; check it and try again.") from None
    more = len(rows) > size
    rows = rows[:size]
    next_after = (rows[-1][sort], rows[-1][pk.name]) if more and rows else None
    return RowPage(POSTGRESQL, table.name, [mask_row(r) for r in rows], tuple(c.name for c in table.columns),
                   sort, descending, size, after, next_after)


def _pg_value_counts(name: object, field: str, flts: Sequence[Filter], top: int) -> list[dict[str, Any]]:
    table = _pg_table(name)
    fields = _pg_fields(table.name)
    info = _known(fields, field, "column")
    column = table.c[info.name]
    n = func.count().label("n")
    stmt = (select(column.label("value"), n).where(sa.and_(sa.true(), *_pg_where(table, fields, flts)))
            .group_by(column).order_by(n.desc(), column.asc().nulls_last()).limit(top))
    with pg.new_session() as session:
        return [{"value": _display(r.value), "count": int(r.n)} for r in session.execute(stmt)]


# ------------------------------------------------------------------ MongoDB


def list_collections() -> list[str]:
    """The app database's collections: the known ones first (``mongo.COLLECTION_NAMES``), then any others."""
    present = [n for n in mongo.get_db().list_collection_names() if not n.startswith("system.")]
    known = [n for n in mongo.COLLECTION_NAMES if n in present]
    return known + sorted(n for n in present if n not in known)


def _collection_name(name: object) -> str:
    if not isinstance(name, str) or name not in list_collections():
        raise NotFound(f"No collection {str(name)[:60]!r} in MongoDB; pick one from the list.")
    return name


def _mongo_indexes(db: Any, name: str) -> tuple[IndexInfo, ...]:
    out = []
    for ix in db[name].list_indexes():
        keys = tuple((k, v) for k, v in ix["key"].items())
        kinds = {v for _, v in keys if isinstance(v, str)}
        kind = "primary key" if ix["name"] == "_id_" else (", ".join(sorted(kinds)) if kinds else
                                                            ("unique" if ix.get("unique") else "index"))
        out.append(IndexInfo(ix["name"], keys, bool(ix.get("unique")) or ix["name"] == "_id_", kind))
    return tuple(out)


def _mongo_source(db: Any, name: str) -> Source:
    count = int(db[name].estimated_document_count(maxTimeMS=MONGO_MAX_TIME_MS))
    with _samples_lock:  # a sample of a collection that has changed size since (a reseed) is dropped
        cached = _samples.get(name)
        if cached is not None and abs(cached.count - count) > max(cached.count, count) // 10:
            _samples.pop(name, None)
    return Source(MONGODB, name, count, True, _mongo_indexes(db, name))


def _bson_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, (Decimal128, Decimal)):
        return "decimal"
    if isinstance(value, bytes):
        return "binData"
    return type(value).__name__


_NUMERIC = {"int", "long", "double", "decimal"}
_KIND_OF_TYPE = {"string": "text", "date": "date", "bool": "bool", "objectId": "id"}


def _kind_of(types: set[str]) -> str:
    types = types - {"null"}
    if types and types <= _NUMERIC:
        return "number"
    if len(types) == 1:
        return _KIND_OF_TYPE.get(next(iter(types)), "")
    return ""


@dataclass
class _PathStats:
    types: Counter = field(default_factory=Counter)
    element_types: Counter = field(default_factory=Counter)
    docs: int = 0
    examples: list[str] = field(default_factory=list)


def _walk(doc: Mapping[str, Any], prefix: str, stats: dict[str, _PathStats], seen: set[str]) -> None:
    for key, value in doc.items():
        if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
            continue  # not addressable with a dotted path
        path = prefix + key
        entry = stats.setdefault(path, _PathStats())
        entry.types[_bson_type(value)] += 1
        if path not in seen:
            seen.add(path)
            entry.docs += 1
        if isinstance(value, Mapping):
            _walk(value, path + ".", stats, seen)
        elif isinstance(value, (list, tuple)):
            for element in value:
                entry.element_types[_bson_type(element)] += 1
                if isinstance(element, Mapping):
                    _walk(element, path + ".", stats, seen)
        if value is not None and not isinstance(value, Mapping) and len(entry.examples) < EXAMPLES_PER_FIELD:
            shown = _display(value)
            shown = shown if len(shown) <= EXAMPLE_CHARS else shown[:EXAMPLE_CHARS - 1] + "…"
            if shown not in entry.examples:
                entry.examples.append(shown)


@dataclass
class _Sample:
    taken_at: float
    count: int  # estimated documents when sampled
    docs: list[dict[str, Any]]
    fields: dict[str, FieldInfo] | None = None  # described once per sample


_samples: dict[str, _Sample] = {}
_samples_lock = threading.Lock()
_MAX_SAMPLES = 32  # collections whose sample is kept (bound of the cache)


def forget_samples() -> None:
    """Drop the cached samples (after a reseed they describe the old data until they expire)."""
    with _samples_lock:
        _samples.clear()


def _sample(name: str) -> _Sample:
    """A random sample of at most SAMPLE_SIZE documents, reused for SAMPLE_TTL_S seconds (one scan)."""
    now = time.monotonic()
    with _samples_lock:
        cached = _samples.get(name)
    if cached is not None and now - cached.taken_at < SAMPLE_TTL_S:
        return cached
    coll = mongo.get_db()[name]
    count = coll.estimated_document_count(maxTimeMS=MONGO_MAX_TIME_MS)
    docs = list(coll.aggregate([{"$sample": {"size": SAMPLE_SIZE}}], maxTimeMS=MONGO_MAX_TIME_MS))
    sample = _Sample(now, int(count), docs)
    with _samples_lock:
        if len(_samples) >= _MAX_SAMPLES:
            _samples.pop(min(_samples, key=lambda k: _samples[k].taken_at))
        _samples[name] = sample
    return sample


def _mongo_fields(name: str) -> dict[str, FieldInfo]:
    sample = _sample(name)
    if sample.fields is None:
        sample.fields = _describe_sample(name, sample)
    return sample.fields


def _describe_sample(name: str, sample: _Sample) -> dict[str, FieldInfo]:
    stats: dict[str, _PathStats] = {}
    for doc in sample.docs:
        _walk(doc, "", stats, set())
    indexed = set()
    for ix in _mongo_indexes(mongo.get_db(), name):
        first_key, direction = ix.keys[0]
        if direction in (1, -1):
            indexed.add(first_key)
    total = max(len(sample.docs), 1)
    fields: dict[str, FieldInfo] = {}
    for path, entry in stats.items():
        types = set(entry.types)
        is_array = types == {"array"} or types == {"array", "null"}
        if is_array:
            kind = _kind_of(set(entry.element_types))
            shown = "array<" + ", ".join(sorted(entry.element_types) or ["empty"]) + ">"
            if "null" in types:
                shown += ", null"
        else:
            kind = _kind_of(types)
            shown = ", ".join(t for t, _ in entry.types.most_common())
        masked = is_secret(path.rsplit(".", 1)[-1])
        presence = entry.docs / total
        scalar = len(types) == 1 and not is_array and types != {"object"}
        sortable = (path == "_id") or (path in indexed and scalar and presence == 1.0 and kind != "")
        fields[path] = FieldInfo(name=path, kind=kind, types=shown, presence=round(presence, 4),
                                 examples=tuple(entry.examples), sortable=sortable and not masked,
                                 masked=masked, is_array=is_array)
    if "_id" not in fields:
        fields["_id"] = FieldInfo(name="_id", kind="text", types="string", presence=1.0, sortable=True)
    return fields


def _merge_ops(target: dict[str, Any], ops: Mapping[str, Any]) -> bool:
    """Add ``ops`` to one field's operator document (all must hold). False when nothing can match."""
    for op, value in ops.items():
        if op == "$options":
            continue
        if op not in target:
            target[op] = value
            if op == "$regex":
                target["$options"] = ops.get("$options", "")
            continue
        old = target[op]
        try:
            if op in ("$gt", "$gte"):
                target[op] = max(old, value)
            elif op in ("$lt", "$lte"):
                target[op] = min(old, value)
            elif op == "$regex":  # two "contains" on one field: both, as lookaheads
                target[op] = "".join(f"(?=[\\s\\S]*{part})" for part in (old, value))
            elif old != value:  # two different equalities
                return False
        except TypeError:  # bounds of different types cannot both hold
            return False
    for strict, loose in (("$gt", "$gte"), ("$lt", "$lte")):
        if strict in target and loose in target:
            keep_strict = target[strict] >= target[loose] if strict == "$gt" else target[strict] <= target[loose]
            target.pop(loose if keep_strict else strict)
    return True


NOTHING: dict[str, Any] = {"_id": {"$in": []}}  # a filter no document matches


def _mongo_query(fields: Mapping[str, FieldInfo], flts: Sequence[Filter],
                 extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The filter document: ``{field: {op: typed value}}`` with our operators only.

    Equality on an indexed field goes first: the embedded server serves a query from the first
    clause that has an index."""
    by_field: dict[str, dict[str, Any]] = {}
    possible = True
    for flt in flts:
        info = _known(fields, flt.field, "field")
        cond = _condition(info, flt)
        ops = dict(cond.ops)
        if cond.contains is not None:
            ops = {"$regex": re.escape(cond.contains), "$options": "i"}
        possible &= _merge_ops(by_field.setdefault(info.name, {}), ops)
    for name, ops in (extra or {}).items():
        possible &= _merge_ops(by_field.setdefault(name, {}), ops)
    if not possible:
        return dict(NOTHING)
    return dict(sorted(by_field.items(), key=lambda item: "$eq" not in item[1]))


def _window_guide(sample: _Sample, sort: str) -> list[Any]:
    """The sort field's sampled values in order: boundaries of windows holding ~count/len docs each."""
    values = []
    for doc in sample.docs:
        value: Any = doc
        for part in sort.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and not isinstance(value, (Mapping, list)):
            values.append(value)
    try:
        return sorted(values)
    except TypeError:  # mixed types: no guide, one open window
        return []


def _mongo_browse(name: str, sort: str | None, descending: bool, flts: Sequence[Filter],
                  after: tuple[Any, Any] | None, size: int) -> RowPage:
    fields = _mongo_fields(name)
    sort = sort or default_sort(store=MONGODB, name=name)
    info = _known(fields, sort, "sort field")
    if not info.sortable:
        allowed = ", ".join(sort_fields(store=MONGODB, name=name))
        raise InvalidInput(f"{sort} is not indexed; sort by one of {allowed}.")
    base_query = _mongo_query(fields, flts)  # validates the filters before any query runs
    coll = mongo.get_db()[name]
    direction = -1 if descending else 1
    order = [(sort, direction)] + ([("_id", direction)] if sort != "_id" else [])
    want = size + 1
    rows: list[dict[str, Any]] = []
    queries = 0

    def fetch(extra: Mapping[str, Mapping[str, Any]], order_by: list[tuple[str, int]], limit: int) -> list[dict]:
        nonlocal queries
        queries += 1
        query = _mongo_query(fields, flts, extra)
        return list(coll.find(query).sort(order_by).limit(limit).max_time_ms(MONGO_MAX_TIME_MS))

    beyond, within = ("$lt", "$gte") if descending else ("$gt", "$lte")
    bound = None
    if after is not None:
        value, last_id = after
        if sort == "_id":
            bound = last_id
        else:
            # The rest of the cursor's tie group first (same sort value, later _id)...
            rows = fetch({sort: {"$eq": value}, "_id": {beyond: last_id}}, [("_id", direction)], want)
            bound = value
    # ...then windows of the sort field's index beyond it, each about 2 pages wide, widening if short.
    sample = _sample(name)
    guide = _window_guide(sample, sort) if sample.count > WINDOW_ABOVE else []
    if descending:
        guide = guide[::-1]
    per_step = sample.count / len(guide) if guide else 0
    steps = max(math.ceil(2 * want / per_step), 1) if per_step else 0
    while len(rows) < want:
        ops: dict[str, Any] = {} if bound is None else {beyond: bound}
        edge = None
        if guide:
            try:
                if bound is None:
                    start = 0
                elif descending:
                    start = _bisect_desc(guide, bound)
                else:
                    start = bisect.bisect_right(guide, bound)
            except TypeError:  # a cursor value of another type than the field's
                raise InvalidInput(_STALE_CURSOR) from None
            if start + steps - 1 < len(guide):
                edge = guide[start + steps - 1]
                ops[within] = edge
        rows += fetch({sort: ops} if ops else {}, order, want - len(rows))
        if edge is None:
            break
        bound = edge
        steps *= 2
    more = len(rows) > size
    rows = rows[:size]
    next_after = None
    if more and rows:
        last = rows[-1]
        next_after = (_get_path(last, sort), last.get("_id"))
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    return RowPage(MONGODB, name, [mask_row(r) for r in rows], tuple(columns), sort, descending, size,
                   after, next_after, queries)


def _bisect_desc(values_desc: list[Any], bound: Any) -> int:
    """First index in a descending list whose value is below ``bound``."""
    lo, hi = 0, len(values_desc)
    while lo < hi:
        mid = (lo + hi) // 2
        if values_desc[mid] >= bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _get_path(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _mongo_value_counts(name: str, field: str, flts: Sequence[Filter], top: int) -> list[dict[str, Any]]:
    fields = _mongo_fields(name)
    info = _known(fields, field, "field")
    if info.types == "object" or (info.kind == "" and "array<object" in info.types):
        raise InvalidInput(f"{field} holds objects; pick one of its dotted fields instead.")
    query = _mongo_query(fields, flts)
    pipeline: list[dict[str, Any]] = [{"$match": query}] if query else []
    if info.is_array:
        pipeline.append({"$unwind": "$" + info.name})
    pipeline += [{"$group": {"_id": "$" + info.name, "n": {"$sum": 1}}},
                 {"$sort": {"n": -1, "_id": 1}}, {"$limit": top}]
    rows = mongo.get_db()[name].aggregate(pipeline, maxTimeMS=MONGO_MAX_TIME_MS)
    return [{"value": _display(r["_id"]), "count": int(r["n"])} for r in rows]
