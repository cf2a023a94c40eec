"""The data explorer (issue 9): what both stores hold, shown the way pgAdmin and Compass show it.

Sources (PostgreSQL tables of the models, MongoDB collections of the app database) with their
counts and indexes; their fields (columns with constraints, or the dotted paths found in a bounded
sample of documents); pages of rows sorted by an indexed field, filtered by typed values; exports
and value counts. Everything here only reads.

Only allow-listed columns leave this module (p2p_store.data.masking, #14): any other column is
replaced by ``MASK`` in SQL (its value is never even fetched) and cannot be sorted, filtered or
counted by; exports go through p2p_store.data.export (formula cells neutralised).

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

from collections.abc import Iterable, Sequence
from typing import Any

from p2p_store.access import is_admin
from p2p_store.data.browse_mongo import (  # noqa: F401 - re-exported
    NOTHING,
    _collection_name,
    _mongo_browse,
    _mongo_fields,
    _mongo_source,
    _mongo_value_counts,
    forget_samples,
    list_collections,
    mongo_sort_fields,
)
from p2p_store.data.browse_pg import (
    _pg_browse,
    _pg_fields,
    _pg_source,
    _pg_table,
    _pg_tables,
    _pg_value_counts,
    pg_sort_fields,
)
from p2p_store.data.export import flatten_row, rows_as_csv, rows_as_json, to_jsonable  # noqa: F401 - re-exported
from p2p_store.data.filters import (  # noqa: F401 - re-exported
    EXACT_COUNT_BELOW,
    MAX_EXPORT_ROWS,
    MAX_FILTERS,
    MAX_PAGE_SIZE,
    MAX_TOP,
    MAX_VALUE_CHARS,
    MONGODB,
    OP_LABELS,
    OPS,
    OPS_FOR_KIND,
    POSTGRESQL,
    SAMPLE_SIZE,
    STORES,
    FieldInfo,
    Filter,
    IndexInfo,
    RowPage,
    Source,
    _after,
    _as_filters,
    _check_store,
    _page_size,
)
from p2p_store.data.masking import (  # noqa: F401 - re-exported
    ADMIN_ONLY_TABLES,
    MASK,
    is_secret,
    is_visible,
    mask_row,
    mask_text,
)
from p2p_store.errors import InvalidInput, PermissionDenied
from p2p_store.stores import mongo, pg


def _may_open(store: str, name: object, actor_id: object) -> None:
    """Sign-ins and failed sign-ins are for admins only (#14); every other source is for everyone."""
    if store == POSTGRESQL and name in ADMIN_ONLY_TABLES:
        with pg.new_session() as session:
            if not is_admin(session, actor_id):
                raise PermissionDenied(f"Only admins may open {name}.")


# ------------------------------------------------------------------ sources


def list_sources(*, store: str, actor_id: object = None) -> list[Source]:
    """The store's tables (from the models; admin-only ones for admins) or collections (the app
    database's), with counts and indexes."""
    if _check_store(store) == POSTGRESQL:
        with pg.new_session() as session:
            admin = is_admin(session, actor_id)
        return [_pg_source(table) for name, table in _pg_tables().items()
                if admin or name not in ADMIN_ONLY_TABLES]
    db = mongo.get_db()
    return [_mongo_source(db, name) for name in list_collections()]


def get_source(*, store: str, name: str, actor_id: object = None) -> Source:
    """One table or collection with its count and indexes."""
    _may_open(_check_store(store), name, actor_id)
    if _check_store(store) == POSTGRESQL:
        return _pg_source(_pg_table(name))
    return _mongo_source(mongo.get_db(), _collection_name(name))


def describe_fields(*, store: str, name: str, actor_id: object = None) -> list[FieldInfo]:
    """Columns of a table (types, nullability, constraints, foreign keys) or the fields of a collection
    found in a bounded sample (dotted paths, types, presence, examples)."""
    _may_open(_check_store(store), name, actor_id)
    if _check_store(store) == POSTGRESQL:
        return list(_pg_fields(name).values())
    return list(_mongo_fields(_collection_name(name)).values())


def sort_fields(*, store: str, name: str, actor_id: object = None) -> list[str]:
    """The fields a page may be sorted by: indexed (leading index keys), never secret; default first."""
    _may_open(_check_store(store), name, actor_id)
    if _check_store(store) == POSTGRESQL:
        return pg_sort_fields(name)
    return mongo_sort_fields(_collection_name(name))


def browse_rows(*, store: str, name: str, sort: str | None = None, descending: bool = False,
                filters: Iterable[Any] | None = None, after: Sequence[Any] | None = None,
                page_size: int = 50, actor_id: object = None) -> RowPage:
    """One page of rows after ``after`` (the previous page's ``next_after``), sorted by an indexed field
    (then by primary key / ``_id``), filtered. Secret columns come back masked."""
    _may_open(_check_store(store), name, actor_id)
    store = _check_store(store)
    size = _page_size(page_size)
    cursor = _after(after)
    flts = _as_filters(filters)
    if store == POSTGRESQL:
        return _pg_browse(name, sort, bool(descending), flts, cursor, size)
    return _mongo_browse(_collection_name(name), sort, bool(descending), flts, cursor, size)


def export_rows(*, store: str, name: str, sort: str | None = None, descending: bool = False,
                filters: Iterable[Any] | None = None, limit: int = MAX_EXPORT_ROWS,
                fmt: str = "csv", actor_id: object = None) -> bytes:
    """Up to ``limit`` (at most MAX_EXPORT_ROWS) rows of the filtered, sorted view as CSV or JSON."""
    _may_open(_check_store(store), name, actor_id)
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
                           after=after, page_size=min(MAX_PAGE_SIZE, limit - len(rows)), actor_id=actor_id)
        rows.extend(page.rows)
        if page.next_after is None:
            break
        after = page.next_after
    return rows_as_csv(rows) if fmt == "csv" else rows_as_json(rows)


def value_counts(*, store: str, name: str, field: str, filters: Iterable[Any] | None = None,
                 top: int = 20, actor_id: object = None) -> list[dict[str, Any]]:
    """The ``top`` most frequent values of ``field`` (array fields: of their elements) under the filters,
    as ``[{"value": str, "count": int}]``, most frequent first."""
    _may_open(_check_store(store), name, actor_id)
    try:
        top = min(max(int(top), 1), MAX_TOP)
    except (TypeError, ValueError):
        raise InvalidInput("Top N must be a whole number.") from None
    flts = _as_filters(filters)
    if _check_store(store) == POSTGRESQL:
        return _pg_value_counts(name, field, flts, top)
    return _mongo_value_counts(_collection_name(name), field, flts, top)


def default_sort(*, store: str, name: str, actor_id: object = None) -> str:
    """The sort a page opens with (a date index where there is one)."""
    names = sort_fields(store=store, name=name, actor_id=actor_id)
    return names[0] if names else ("_id" if store == MONGODB else "")


