"""The read API for notebooks (issue #18): what the pages show, as pandas DataFrames.

Every function here calls the same service the page calls (``accounts.directory``,
``community.forum`` / ``use_cases`` / ``stats``, ``data.explorer`` / ``console``), so a notebook gets
the same validation, the same bounds, the same allow-list masking (``data.masking``) and the same
admin checks (query console, event log, admin-only tables) as the app — nothing is re-implemented
here. It reads the same Settings: the embedded stores under ``P2P_DATA_DIR`` (``.p2p-data`` beside
the app) by default, or ``DATABASE_URL`` / ``MONGODB_URL`` when set. No function writes anything.

In a notebook next to the repository (``notebooks/``), the first cell puts the repository root on
``sys.path`` and makes it the working directory, so ``.env`` and ``.p2p-data`` are the app's::

    import p2p_store.frames as f
    f.use_cases(industry="Petrochemicals")

Bad filter values raise ``p2p_store.errors.InvalidInput`` with the page's own message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from p2p_store import audit
from p2p_store.access import require_admin
from p2p_store.accounts import directory
from p2p_store.community import forum, stats
from p2p_store.community import use_cases as use_case_service
from p2p_store.data import console, explorer, masking
from p2p_store.stores import pg

__all__ = [
    "MASK",
    "accounts",
    "activity_by_month",
    "cities",
    "events",
    "fields",
    "mongo_query",
    "post_categories",
    "posts",
    "role_changes",
    "sources",
    "sql",
    "table",
    "thread",
    "use_cases",
    "use_cases_by_industry",
    "value_counts",
]

MASK = masking.MASK  # what a column outside masking.VISIBLE_COLUMNS holds in every frame (#14)


def _frame(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    rows = list(rows)
    if columns is not None:
        return pd.DataFrame(rows, columns=list(columns))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ people


def accounts(*, search: str = "", role: str | None = None, industry: str | None = None,
             active: bool | None = None, sort: str = "full_name", descending: bool = False) -> pd.DataFrame:
    """Accounts (PostgreSQL) joined with their profiles (MongoDB), as the Users page lists them:
    id, full_name, email, company, role, industry, city, expertise, job_title, is_active,
    last_login_at, created_at. At most ``directory.EXPORT_LIMIT`` rows; no password hash, ever.

    >>> f.accounts(role="admin")[["full_name", "company", "industry", "city"]]
    """
    return _frame(directory.export_accounts(search=search, role=role, industry=industry, active=active,
                                            sort=sort, descending=descending))


def role_changes(*, person: str = "", admin: str = "", limit: int = 200) -> pd.DataFrame:
    """The role-change audit, newest first (what the Users page shows under "Role changes"):
    when, admin, person, action, old_role, new_role, postgresql, mongodb, note. ``person`` / ``admin``
    filter by email substring; at most 1,000 rows.

    >>> f.role_changes(person="sara")
    """
    return _frame(directory.list_role_changes(person=person, admin=admin, limit=limit),
                  ["when", "admin", "person", "action", "old_role", "new_role", "postgresql", "mongodb", "note"])


_EVENT_COLUMNS = ["id", "at", "actor", "action", "object_kind", "object_id", "object_email", "version", "before",
                  "after", "postgresql", "mongodb", "request_id", "reverts", "applied_at", "note"]


def events(*, actor_id: str, actor: str = "", person: str = "", action: str = "", outcome: str = "",
           since: Any = None, until: Any = None, limit: int = audit.PAGE_SIZE) -> pd.DataFrame:
    """The event log (#16), newest first, with the Audit log page's filters (``actor`` email, ``person``
    id or email, ``action``, MongoDB ``outcome``, ``since`` <= at < ``until`` as datetimes): id, at,
    actor, action, object_kind, object_id, object_email, version, before, after, postgresql, mongodb,
    request_id, reverts, applied_at, note. At most ``audit.EXPORT_LIMIT`` rows. The Audit log is for
    admins: ``actor_id`` is an active admin's account id (anything else raises ``PermissionDenied``).

    >>> admin = f.accounts(role="admin").id[0]
    >>> f.events(actor_id=admin, action="change_role", limit=20)
    """
    with pg.new_session() as session:
        require_admin(session, actor_id)
    flt = audit.EventFilter(actor=actor, person=person, action=action, outcome=outcome, since=since, until=until)
    limit = min(max(int(limit), 1), audit.EXPORT_LIMIT)
    rows: list[dict[str, Any]] = []
    before_id: int | None = None
    while len(rows) < limit:
        size = min(audit.MAX_PAGE_SIZE, limit - len(rows))
        page = audit.list_events(flt, before_id=before_id, limit=size)  # keyset pages, as the page reads them
        rows += page
        if len(page) < size:
            break
        before_id = page[-1]["id"]
    return _frame(rows, _EVENT_COLUMNS)


# ------------------------------------------------------------------ forum


_POST_COLUMNS = [f.name for f in dataclasses.fields(forum.PostRow)]
_REPLY_COLUMNS = ["id", "parent_id", "depth", "author_id", "author", "body", "upvotes", "is_best_answer",
                  "created_at", "descendants"]


def posts(*, category: str | None = None, tag: str | None = None, author_id: str | None = None,
          status: str | None = None, solved: bool | None = None, search: str = "", sort: str = "activity",
          limit: int = 20) -> pd.DataFrame:
    """Forum posts with the Forum page's filters, in its order (pinned first, then ``sort``:
    "activity", "views" or "upvotes"): the first ``limit`` posts (the page's "Posts per page" gives
    its first page), read page by page through the same keyset cursor. Columns: id, title, category,
    tags, author_id, author, status, views, upvotes, reply_count, pinned, solved, created_at,
    last_activity_at.

    >>> f.posts(category="Maintenance", solved=True, sort="upvotes", limit=50)
    """
    limit = max(int(limit), 0)
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < limit:
        page = forum.list_posts(category=category, tag=tag, author_id=author_id, status=status, solved=solved,
                                search=search, sort=sort, cursor=cursor,
                                page_size=min(forum.MAX_PAGE_SIZE, limit - len(rows)))
        rows += [{**dataclasses.asdict(r), "tags": list(r.tags)} for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return _frame(rows, _POST_COLUMNS)


def thread(post_id: str) -> pd.DataFrame:
    """One post's replies in thread order (depth 1 = a direct reply), with the best answer marked.
    The post itself is in ``frame.attrs["post"]`` (a dict). Unknown id: ``NotFound``.

    >>> t = f.thread(f.posts(limit=1).id[0]); t.attrs["post"]["title"], t[["depth", "author", "upvotes"]]
    """
    tree = forum.thread(post_id=post_id)
    frame = _frame(({c: getattr(r, c) for c in _REPLY_COLUMNS} for r in tree.replies.values()), _REPLY_COLUMNS)
    post = dataclasses.asdict(tree.post)
    post["tags"] = list(tree.post.tags)
    frame.attrs["post"] = post
    frame.attrs["truncated"] = tree.truncated
    return frame


def post_categories() -> pd.DataFrame:
    """Posts per category, most first (the Forum page's chart): category, posts.

    >>> f.post_categories().plot.barh(x="category", y="posts")
    """
    return _frame(forum.category_counts(), ["category", "posts"])


def activity_by_month() -> pd.DataFrame:
    """Posts and replies created per month (the Overview's activity chart): month ("2025-03"), kind
    ("posts" or "replies"), count.

    >>> f.activity_by_month().pivot(index="month", columns="kind", values="count")
    """
    return _frame(stats.activity_by_month(), ["month", "kind", "count"])


# ------------------------------------------------------------------ use cases


_CASE_COLUMNS = ["id", "title", "company", "industry", "city", "region", "kind", "technologies", "lon", "lat",
                 "detailed_version_id", "basic_version_id"]


def use_cases(*, industry: str | None = None, region: str | None = None, city: str | None = None,
              technology: str | None = None, kind: str | None = None,
              near: tuple[float, float, float] | None = None,
              limit: int = use_case_service.DEFAULT_LIMIT) -> pd.DataFrame:
    """Use cases with the map's filters, in the map table's order: id, title, company, industry, city,
    region, kind ("basic" / "detailed"), technologies (a list), lon, lat (None when the stored point is
    missing or malformed), the linked version ids, and ``distance_km`` when ``near`` =
    ``(lon, lat, radius_km)`` is given (then nearest first).

    >>> f.use_cases(industry="Petrochemicals")
    >>> f.use_cases(near=(50.10, 26.43, 100))  # within 100 km of Dammam
    """
    rows = use_case_service.list_use_cases(industry=industry, region=region, city=city, technology=technology,
                                           kind=kind, near=near, limit=limit)
    return _frame(rows, _CASE_COLUMNS + (["distance_km"] if near is not None else []))


def cities() -> pd.DataFrame:
    """The industrial cities the map knows (the map's City and Near choices): name, region, lon, lat.

    >>> dammam = f.cities().set_index("name").loc["Dammam"]; f.use_cases(near=(dammam.lon, dammam.lat, 150))
    """
    return _frame(use_case_service.known_cities(), ["name", "region", "lon", "lat"])


def use_cases_by_industry(*, kind: str | None = None) -> pd.DataFrame:
    """Use cases per industry, most first: industry, use_cases.

    >>> f.use_cases_by_industry(kind="detailed")
    """
    return _frame(use_case_service.counts_by_industry(kind=kind), ["industry", "use_cases"])


# ------------------------------------------------------------------ data explorer


def sources(store: str, *, actor_id: str | None = None) -> pd.DataFrame:
    """The tables ("postgresql") or collections ("mongodb") the Data explorer lists: name, count,
    estimated (True when the count is the planner's estimate), indexes. The admin-only tables
    (``masking.ADMIN_ONLY_TABLES``: sign-ins, failed sign-ins) are listed only when ``actor_id`` is an
    active admin's account id, as in the app.

    >>> f.sources("mongodb")
    """
    listed = explorer.list_sources(store=store, actor_id=actor_id)
    return _frame(({"name": s.name, "count": s.count, "estimated": s.estimated,
                    "indexes": ", ".join(ix.name for ix in s.indexes)} for s in listed),
                  ["name", "count", "estimated", "indexes"])


def fields(store: str, name: str, *, actor_id: str | None = None) -> pd.DataFrame:
    """A table's columns or a collection's (sampled) fields, as the explorer's Fields tab: name, kind
    (what a filter takes), types, sortable, masked, presence (MongoDB), filter operators. An admin-only
    table needs an admin's ``actor_id`` (else ``PermissionDenied``).

    >>> f.fields("postgresql", "users")
    """
    return _frame(({"name": i.name, "kind": i.kind, "types": i.types, "sortable": i.sortable, "masked": i.masked,
                    "presence": i.presence, "ops": ", ".join(i.ops)}
                   for i in explorer.describe_fields(store=store, name=name, actor_id=actor_id)),
                  ["name", "kind", "types", "sortable", "masked", "presence", "ops"])


def table(store: str, name: str, *, sort: str | None = None, descending: bool = False,
          filters: Iterable[tuple[str, str, str]] = (), limit: int = 50, actor_id: str | None = None) -> pd.DataFrame:
    """Rows of a table or collection as the explorer's Rows tab shows them: sorted by an indexed
    field, filtered by ``(field, op, value)`` triples (op: "eq", "gte", "lte", "contains"; values as
    typed in the page), nested fields as dotted columns, every column outside ``masking.VISIBLE_COLUMNS``
    masked (``MASK``); an admin-only table needs an admin's ``actor_id``. The first
    ``limit`` rows (at most ``explorer.MAX_EXPORT_ROWS``), read page by page through the same keyset
    cursor; ``sort=None`` is the page's default sort.

    >>> f.table("mongodb", "forum_posts", sort="created_at", descending=True, filters=[("category", "eq", "AI")])
    >>> f.table("postgresql", "users")["password_hash"].unique()  # ['•••']
    """
    limit = min(max(int(limit), 0), explorer.MAX_EXPORT_ROWS)
    sort = sort or explorer.default_sort(store=store, name=name, actor_id=actor_id)
    flts = tuple(tuple(flt) for flt in filters)
    rows: list[dict[str, Any]] = []
    after = None
    while len(rows) < limit:
        page = explorer.browse_rows(store=store, name=name, sort=sort, descending=descending, filters=flts,
                                    after=after, page_size=min(explorer.MAX_PAGE_SIZE, limit - len(rows)),
                                    actor_id=actor_id)
        rows += page.rows
        if page.next_after is None:
            break
        after = page.next_after
    return _frame(explorer.flatten_row(r) for r in rows)


def value_counts(store: str, name: str, field: str, *, filters: Iterable[tuple[str, str, str]] = (),
                 top: int = 15, actor_id: str | None = None) -> pd.DataFrame:
    """The ``top`` most frequent values of a field under the filters (the explorer's Chart tab):
    value, count. Masked columns cannot be counted; an admin-only table needs an admin's ``actor_id``.

    >>> f.value_counts("mongodb", "use_cases", "industry")
    """
    flts = tuple(tuple(flt) for flt in filters)
    return _frame(explorer.value_counts(store=store, name=name, field=field, filters=flts, top=top,
                                           actor_id=actor_id),
                  ["value", "count"])


# ------------------------------------------------------------------ query console (admins)


def sql(query: str, *, actor_id: str) -> pd.DataFrame:
    """One read-only SELECT through the explorer's SQL console, on its own read-only login
    (``DATABASE_READONLY_URL``; the embedded default provisions ``p2p_readonly``) over the views of the
    app tables without their masked columns: the same checks, read-only transaction, time limit
    (``console.CONSOLE_TIMEOUT_S``), row cap (``console.ROW_CAP``) and masking.
    The console is for admins: ``actor_id`` is an active admin's account id (e.g. from
    ``f.accounts(role="admin").id``); anything else raises ``PermissionDenied``.
    ``frame.attrs["truncated"]`` says whether the cap cut the result.

    >>> admin = f.accounts(role="admin").id[0]
    >>> f.sql("SELECT role, count(*) AS accounts FROM users GROUP BY role", actor_id=admin)
    """
    result = console.run_sql(actor_id=actor_id, sql=query)
    frame = _frame(result.rows, result.columns)
    frame.attrs["truncated"] = result.truncated
    return frame


def mongo_query(collection: str, query: str, *, mode: str = "filter", actor_id: str) -> pd.DataFrame:
    """A JSON filter (``mode="filter"``) or aggregation pipeline (``mode="pipeline"``) on one collection
    through the explorer's MongoDB console: ``$out`` / ``$merge`` / server JavaScript refused, time
    limit, row cap, nested fields as dotted columns, secrets masked. Admins only (see :func:`sql`).

    >>> f.mongo_query("use_cases", '[{"$group": {"_id": "$region", "n": {"$sum": 1}}}]', mode="pipeline",
    ...               actor_id=admin)
    """
    result = console.run_mongo(actor_id=actor_id, collection=collection, mode=mode, text=query)
    frame = _frame(result.rows, result.columns)
    frame.attrs["truncated"] = result.truncated
    return frame
