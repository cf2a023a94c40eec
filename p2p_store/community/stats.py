"""Headline figures and chart series for the overview page, and the figure cache behind every
figure that needs a whole-collection pass (issue #17).

Choice per figure (see docs/benchmarks.md):

- Accounts by role: exact and live on every run, a ``GROUP BY role`` answered by ``ix_users_role``
  (an index-only pass, ~2 ms at 10,000 accounts), so a role change shows at once on every replica.
- Posts and replies totals: the collections' sizes (``p2p_store.stores.figures.collection_sizes``):
  on the embedded server an estimated count is a whole-collection scan, so it is cached like the rest.
- Use cases basic/detailed, posts per category, use cases per industry, activity per month, the
  forum's facet counts, the map's filter choices: whole-collection aggregations, served from
  :data:`FIGURES` (``p2p_store/stores/figures.py``: stale-while-revalidate, single-flight, refreshed
  after a write that touched what they read and after a reseed in any process; otherwise another
  replica lags at most 60 s + one refresh on figures that read accounts, 10 min on the others).

Every MongoDB read here carries ``maxTimeMS`` (:data:`MAX_TIME_MS`). Never imports streamlit.
"""

from __future__ import annotations

from typing import Any

from p2p_store.accounts import directory
from p2p_store.stores import mongo
from p2p_store.stores.figures import (  # noqa: F401 - re-exported
    ACCOUNTS,
    EVERYTHING,
    FIGURES,
    FORUM,
    USE_CASES,
    Cached,
    collection_sizes,
    invalidate,
)

MAX_TIME_MS = 20_000  # per aggregation; a refresh in the background may take its time, never forever


# ------------------------------------------------------------------ the figures


def _aggregate(collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(mongo.get_db()[collection].aggregate(pipeline, maxTimeMS=MAX_TIME_MS))


def _use_case_kinds() -> dict[str, int]:
    return {d["_id"]: d["n"] for d in _aggregate(mongo.USE_CASES, [{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}


def headline_figures() -> dict[str, Any]:
    """Accounts by role (exact, live), posts and replies (collection sizes, cached), use cases
    basic/detailed (cached, see the module doc); ``as_of`` is the time of the oldest cached part."""
    kinds = FIGURES.get("use_case_kinds", _use_case_kinds, USE_CASES)
    sizes = collection_sizes()
    roles = directory.count_by_role()
    return {
        "accounts": sum(roles.values()), "accounts_by_role": roles,
        "posts": sizes.value[mongo.FORUM_POSTS], "replies": sizes.value[mongo.FORUM_REPLIES],
        "use_cases": sum(kinds.value.values()), "use_cases_basic": kinds.value.get("basic", 0),
        "use_cases_detailed": kinds.value.get("detailed", 0), "as_of": min(kinds.as_of, sizes.as_of),
    }


def _posts_per_category() -> list[dict[str, Any]]:
    rows = _aggregate(mongo.FORUM_POSTS,
                      [{"$group": {"_id": "$category", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1}}])
    return [{"category": r["_id"], "posts": r["posts"]} for r in rows]


def posts_per_category() -> list[dict[str, Any]]:
    return FIGURES.get("posts_per_category", _posts_per_category, FORUM).value


def _activity_by_month() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, label in ((mongo.FORUM_POSTS, "posts"), (mongo.FORUM_REPLIES, "replies")):
        rows = _aggregate(name, [
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m", "date": "$created_at"}}, "n": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])
        out.extend({"month": r["_id"], "kind": label, "count": r["n"]} for r in rows)
    return out


def activity_by_month() -> list[dict[str, Any]]:
    """Posts and replies created per month (one ``$group`` per collection, cached)."""
    return FIGURES.get("activity_by_month", _activity_by_month, FORUM).value


def industries() -> list[dict[str, Any]]:
    """Use cases per industry (``use_cases.counts_by_industry``, cached)."""
    from p2p_store.community import use_cases

    return FIGURES.get("use_cases_by_industry", use_cases.counts_by_industry, USE_CASES).value


def overview() -> dict[str, Any]:
    """Everything the overview shows, with ``as_of`` (the oldest cached part) and ``refreshing``."""
    parts = {"categories": FIGURES.get("posts_per_category", _posts_per_category, FORUM),
             "activity": FIGURES.get("activity_by_month", _activity_by_month, FORUM)}
    from p2p_store.community import use_cases

    parts["industries"] = FIGURES.get("use_cases_by_industry", use_cases.counts_by_industry, USE_CASES)
    figures = headline_figures()
    stamps = [p.as_of for p in parts.values()] + [figures.pop("as_of")]
    return {"figures": figures, **{k: p.value for k, p in parts.items()},
            "as_of": min(stamps), "refreshing": any(p.refreshing for p in parts.values())}


def forum_facets() -> Cached:
    """The forum's filter choices with counts (``forum.facet_counts``, one ``$facet`` pass, cached)."""
    from p2p_store.community import forum

    # the authors' names come from their profiles
    return FIGURES.get("forum_facets", forum.facet_counts, FORUM | ACCOUNTS)


def use_case_facets() -> Cached:
    """The map's filter choices (``use_cases.facet_values``, one pass, cached)."""
    from p2p_store.community import use_cases

    return FIGURES.get("use_case_facets", use_cases.facet_values, USE_CASES)
