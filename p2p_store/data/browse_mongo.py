"""MongoDB browsing for the explorer (#14 split): the app database's collections, fields found in a
bounded sample, keyset pages read through bounded index windows, value counts. Every read has
``maxTimeMS``; a "contains" filter is an escaped literal in its own ``$and`` term."""

from __future__ import annotations

import bisect
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128, ObjectId

from p2p_store.data.filters import (
    _STALE_CURSOR,
    EXAMPLE_CHARS,
    EXAMPLES_PER_FIELD,
    MONGO_MAX_TIME_MS,
    MONGODB,
    SAMPLE_SIZE,
    SAMPLE_TTL_S,
    WINDOW_ABOVE,
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
from p2p_store.data.masking import is_secret, mask_row
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import figures, mongo


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
    count = figures.collection_size(name)  # cached: an estimated count is a scan on the embedded server
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
    count = figures.collection_size(name)
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
    contains: list[dict[str, Any]] = []
    possible = True
    for flt in flts:
        info = _known(fields, flt.field, "field")
        cond = _condition(info, flt)
        if cond.contains is not None:
            # An escaped literal, one $and term each: never a lookahead, alternation or nested
            # quantifier the server would have to backtrack through (#14).
            contains.append({info.name: {"$regex": re.escape(cond.contains), "$options": "i"}})
            continue
        possible &= _merge_ops(by_field.setdefault(info.name, {}), dict(cond.ops))
    for name, ops in (extra or {}).items():
        possible &= _merge_ops(by_field.setdefault(name, {}), ops)
    if not possible:
        return dict(NOTHING)
    query: dict[str, Any] = dict(sorted(by_field.items(), key=lambda item: "$eq" not in item[1]))
    if contains:
        query["$and"] = contains
    return query


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
    sort = sort or next(iter(mongo_sort_fields(name)), "_id")
    info = _known(fields, sort, "sort field")
    if not info.sortable:
        allowed = ", ".join(mongo_sort_fields(name))
        raise InvalidInput(f"{sort} is not indexed; sort by one of {allowed}.")
    _mongo_query(fields, flts)  # validates the filters before any query runs
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


def mongo_sort_fields(name: str) -> list[str]:
    return order_sort_names(_mongo_fields(name))
