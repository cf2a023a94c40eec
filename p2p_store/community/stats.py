"""Headline figures and chart series for the overview page (aggregations bounded by collection size)."""

from __future__ import annotations

from typing import Any

from p2p_store.accounts import directory
from p2p_store.stores import mongo


def headline_figures() -> dict[str, Any]:
    """Accounts by role, posts, replies, use cases (basic/detailed). Mongo totals use the estimated count."""
    db = mongo.get_db()
    kinds = {d["_id"]: d["n"] for d in db[mongo.USE_CASES].aggregate(
        [{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}
    roles = directory.count_by_role()
    return {
        "accounts": sum(roles.values()), "accounts_by_role": roles,
        "posts": db[mongo.FORUM_POSTS].estimated_document_count(),
        "replies": db[mongo.FORUM_REPLIES].estimated_document_count(),
        "use_cases": sum(kinds.values()), "use_cases_basic": kinds.get("basic", 0),
        "use_cases_detailed": kinds.get("detailed", 0),
    }


def posts_per_category() -> list[dict[str, Any]]:
    rows = mongo.get_db()[mongo.FORUM_POSTS].aggregate(
        [{"$group": {"_id": "$category", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1}}])
    return [{"category": r["_id"], "posts": r["posts"]} for r in rows]


def activity_by_month() -> list[dict[str, Any]]:
    """Posts and replies created per month (one ``$group`` per collection)."""
    db = mongo.get_db()
    out: list[dict[str, Any]] = []
    for name, label in ((mongo.FORUM_POSTS, "posts"), (mongo.FORUM_REPLIES, "replies")):
        rows = db[name].aggregate([
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m", "date": "$created_at"}}, "n": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])
        out.extend({"month": r["_id"], "kind": label, "count": r["n"]} for r in rows)
    return out
