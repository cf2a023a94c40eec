"""PostgreSQL browsing for the explorer (#14 split): the tables of the models, their counts,
indexes and columns, keyset pages and value counts. Columns off the allow-list
(p2p_store.data.masking) are selected as the mask itself: their values are never fetched."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, func, literal, select
from sqlalchemy.dialects import postgresql as pg_types

from p2p_store.data.filters import (
    _STALE_CURSOR,
    EXACT_COUNT_BELOW,
    POSTGRESQL,
    FieldInfo,
    Filter,
    IndexInfo,
    RowPage,
    Source,
    _condition,
    _display,
    _known,
    order_sort_names,
)
from p2p_store.data.masking import MASK, is_visible, mask_row
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import pg
from p2p_store.stores.models import Base


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
        masked = not is_visible(table.name, cname)
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
    return [c if is_visible(table.name, c.name) else literal(MASK).label(c.name) for c in table.columns]


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
    sort = sort or next(iter(pg_sort_fields(table.name)), None) or pk.name
    info = _known(fields, sort, "sort column")
    if not info.sortable:
        allowed = ", ".join(pg_sort_fields(table.name))
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
    return RowPage(POSTGRESQL, table.name, [mask_row(r, table.name) for r in rows],
                   tuple(c.name for c in table.columns),
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




def pg_sort_fields(name: object) -> list[str]:
    return order_sort_names(_pg_fields(name))
