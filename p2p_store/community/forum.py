"""The forum, read side: a filtered, sorted, keyset-paged list of posts (pinned first), cheap
totals, category / tag / author counts for the filters, and one post with its whole reply tree.

Every list query is an equality prefix plus a range on one of the ``pinned_*`` indexes of
``forum_posts`` (see ``mongo.COLLECTIONS``), sorted the way the index is and limited, so a page
costs a bounded index walk on a real mongod. A thread is ONE query on ``forum_replies``
(``post_id`` equality, sorted by the materialised ``path`` on the ``post_path`` index); the tree is
built in memory. User text is never a query operator: every filter must be a ``str`` (anything else
is ``InvalidInput``), bounded by ``clean_text``; the search is an escaped, case-insensitive regex.

Over 400 lines on purpose: the list, its cursors and the thread tree share the row shapes and the
profile lookups above them; split it by list / thread when a write side (posting, voting) arrives.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pymongo.collection import Collection

from p2p_store.accounts.directory import clean_text
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import figures, mongo

Sort = Literal["activity", "views", "upvotes"]
SORT_FIELDS: dict[str, str] = {"activity": "last_activity_at", "views": "views", "upvotes": "upvotes"}
SORT_LABELS: dict[str, str] = {"activity": "Latest activity", "views": "Most viewed", "upvotes": "Most upvoted"}
STATUSES = ("open", "closed")
MAX_SEARCH = 200  # characters of the search box
MAX_FILTER = 100  # characters of a category / tag value
MAX_ID = 64  # characters of a post / author id (ours are 36-character uuids)
MAX_CURSOR = 512  # characters of a page cursor
MAX_PAGE_SIZE = 100
COUNT_LIMIT = 10_000  # a filtered total stops counting here ("10,000+")
MAX_THREAD_REPLIES = 20_000  # replies read for one thread (a bound, not a page)
MAX_FACETS = 200  # categories / tags returned by the counts
MAX_AUTHORS = 300  # authors offered in the filter (the most active ones)
MAX_TIME_MS = 10_000  # every MongoDB read here is bounded by the server (#17)
NAME_BATCH = 50  # profile ids per $in query (see _names)
FORMER_MEMBER = "former member"  # the name shown when a post's author has no profile any more
DEPTH_CAP = 3  # reply levels shown before a branch folds behind "show more"
CHILDREN_SHOWN = 5  # replies shown under one reply before "show more"
BRANCHES_PER_PAGE = 10  # top-level branches of a thread shown per "load more"

_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}")
_LIST_FIELDS = {"title": 1, "category": 1, "tags": 1, "author_id": 1, "status": 1, "views": 1, "upvotes": 1,
                "reply_count": 1, "is_pinned": 1, "has_best_answer": 1, "created_at": 1, "last_activity_at": 1}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH  # one millisecond (BSON date precision)


# ------------------------------------------------------------------ shapes returned to pages


@dataclass(frozen=True, slots=True)
class PostRow:
    """One line of the post list."""

    id: str
    title: str
    category: str
    tags: tuple[str, ...]
    author_id: str
    author: str  # full name from the profile, or FORMER_MEMBER
    status: str
    views: int
    upvotes: int
    reply_count: int
    pinned: bool
    solved: bool  # a best answer exists
    created_at: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class PostPage:
    """One page of posts, pinned first, and the cursor of the next page (None on the last one)."""

    rows: list[PostRow]
    next_cursor: str | None
    sort: str
    page_size: int


@dataclass(frozen=True, slots=True)
class PostTotal:
    """How many posts match; ``capped`` when counting stopped at COUNT_LIMIT."""

    count: int
    capped: bool = False

    def label(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


@dataclass(frozen=True, slots=True)
class AuthorChoice:
    author_id: str
    name: str
    email: str
    posts: int


class Reply(NamedTuple):
    """A reply placed in its thread: ``depth`` 1 is top-level; ``children`` in thread order.
    (A NamedTuple: a cached thread of thousands of replies unpickles ~8x faster than dataclasses.)"""

    id: str
    parent_id: str | None
    path: str
    depth: int
    author_id: str
    author: str
    body: str
    upvotes: int
    is_best_answer: bool
    created_at: datetime | None
    children: tuple[str, ...]
    descendants: int  # replies below this one, at any depth


@dataclass(frozen=True, slots=True)
class Post:
    """A post in full."""

    id: str
    title: str
    body: str
    category: str
    tags: tuple[str, ...]
    author_id: str
    author: str
    status: str
    views: int
    upvotes: int
    reply_count: int
    pinned: bool
    solved: bool
    created_at: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class Thread:
    """A post and all its replies as a tree (``replies`` keeps thread order: path order)."""

    post: Post
    replies: dict[str, Reply]
    top_level: tuple[str, ...]
    best_answer_id: str | None
    truncated: bool = False  # more than MAX_THREAD_REPLIES replies exist; the rest were not read

    @property
    def best_answer(self) -> Reply | None:
        return self.replies.get(self.best_answer_id) if self.best_answer_id else None


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """One line of a rendered thread: a reply, or a folded deep branch ("show N more") under ``reply``."""

    kind: Literal["reply", "more"]
    reply: Reply
    hidden: int = 0  # replies folded under ``reply`` (kind "more")


@dataclass(frozen=True, slots=True)
class ThreadLines:
    lines: list[ThreadLine]
    shown_branches: int
    remaining_branches: int
    visible: frozenset[str] = frozenset()  # ids of the replies on screen


# ------------------------------------------------------------------ validation


def _text_filter(value: object, *, field: str, max_len: int = MAX_FILTER) -> str | None:
    """A filter value: None/"" mean "any"; otherwise a bounded string (never an operator)."""
    text = clean_text(value, field=field, max_len=max_len)
    return text or None


def _post_id(value: object) -> str:
    """A syntactically possible document id, or NotFound (ids are never operators or long text)."""
    if not isinstance(value, str):
        raise NotFound("No such post.")
    value = value.strip()
    if not _ID_RE.fullmatch(value):
        raise NotFound("No such post.")
    return value


def _filters(*, category: object, tag: object, author_id: object, status: object, solved: object,
             search: object) -> dict[str, Any]:
    """The Mongo filter for the list, built only from validated strings and booleans."""
    query: dict[str, Any] = {}
    if (cat := _text_filter(category, field="Category")) is not None:
        query["category"] = cat
    if (tag_ := _text_filter(tag, field="Tag")) is not None:
        query["tags"] = tag_
    if (author := _text_filter(author_id, field="Author", max_len=MAX_ID)) is not None:
        query["author_id"] = author
    if status not in (None, ""):
        if not isinstance(status, str) or status not in STATUSES:
            raise InvalidInput(f"Unknown status; pick one of {', '.join(STATUSES)}.")
        query["status"] = status
    if solved is not None:
        if not isinstance(solved, bool):
            raise InvalidInput("Solved must be yes, no or any.")
        query["has_best_answer"] = solved
    if text := clean_text(search, field="Search", max_len=MAX_SEARCH):
        pattern = re.escape(text)  # literal text: '.*(' or '{"$ne": 1}' match only themselves
        query["$or"] = [{"title": {"$regex": pattern, "$options": "i"}},
                        {"body": {"$regex": pattern, "$options": "i"}}]
    return query


def _sort(value: object) -> str:
    if not isinstance(value, str) or value not in SORT_FIELDS:
        raise InvalidInput(f"Cannot sort by {str(value)[:40]!r}; pick activity, views or upvotes.")
    return value


def _page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("Page size must be a whole number.")
    return min(max(value, 1), MAX_PAGE_SIZE)


# ------------------------------------------------------------------ cursors (keyset pagination)


def _key_of(doc: dict[str, Any], sort: str) -> int:
    """The sort value of a post as an int (dates as epoch milliseconds: BSON's own precision)."""
    value = doc.get(SORT_FIELDS[sort])
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MS
    return int(value or 0)



def _key_value(key: int, sort: str) -> Any:
    return _EPOCH + key * _MS if sort == "activity" else key


def _encode_cursor(doc: dict[str, Any], sort: str) -> str:
    raw = json.dumps([sort, 1 if doc.get("is_pinned") else 0, _key_of(doc, sort), doc["_id"]],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: object, sort: str) -> tuple[bool, int, str] | None:
    """(pinned, key, id) of the last post of the previous page; None for the first page."""
    if cursor in (None, ""):
        return None
    bad = InvalidInput("That page link is out of date; start again from the first page.")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
        raise bad
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not (isinstance(parts, list) and len(parts) == 4 and parts[0] == sort and parts[1] in (0, 1)
            and type(parts[2]) is int and abs(parts[2]) < 2**62
            and isinstance(parts[3], str) and _ID_RE.fullmatch(parts[3])):
        raise bad
    return bool(parts[1]), parts[2], parts[3]


# ------------------------------------------------------------------ the list


def _names(ids: Iterable[str], *, batch: int = NAME_BATCH) -> dict[str, dict[str, Any]]:
    """Profiles (name, email) of these people: one ``$in`` query per ``batch`` ids (a list page is
    always one). SecantusDB checks ``$in`` against every candidate in Python, O(ids x ids), so a
    thread's hundreds of authors go in batches rather than one huge list."""
    wanted = sorted({i for i in ids if isinstance(i, str)})
    profiles = mongo.get_db()[mongo.PROFILES]
    found: dict[str, dict[str, Any]] = {}
    for n in range(0, len(wanted), batch):
        found.update((d["_id"], d) for d in profiles.find({"_id": {"$in": wanted[n:n + batch]}},
                                                           {"full_name": 1, "email": 1}, max_time_ms=MAX_TIME_MS))
    return found


def _name(profiles: dict[str, dict[str, Any]], author_id: Any) -> str:
    profile = profiles.get(author_id)
    return (profile or {}).get("full_name") or FORMER_MEMBER


def _row(doc: dict[str, Any], profiles: dict[str, dict[str, Any]]) -> PostRow:
    return PostRow(id=doc["_id"], title=doc.get("title", ""), category=doc.get("category", ""),
                   tags=tuple(doc.get("tags") or ()), author_id=doc.get("author_id", ""),
                   author=_name(profiles, doc.get("author_id")), status=doc.get("status", "open"),
                   views=int(doc.get("views") or 0), upvotes=int(doc.get("upvotes") or 0),
                   reply_count=int(doc.get("reply_count") or 0), pinned=bool(doc.get("is_pinned")),
                   solved=bool(doc.get("has_best_answer")), created_at=doc.get("created_at"),
                   last_activity_at=doc.get("last_activity_at"))


# On the embedded MongoDB-protocol server a sorted find reads its whole index range, then sorts, then
# applies the limit (its plan: IXSCAN -> FETCH -> SORT): the unpinned first page at scale 100 (5,000
# posts) took 156 ms and the second 345 ms, against 2 ms for a range holding just the page. So an
# unfiltered page reads a bounded range first (#17): the first page from the key its last post had the
# previous time (remembered per process), a later page from windows below the cursor's key that grow
# fourfold. A range that holds a whole page holds the page: every post outside it sorts after every
# post inside. One that does not is read again wider, and in the end unbounded, as before. Bounds are
# exclusive (``$gt`` one below the key, keys being whole milliseconds or counts): the embedded server
# (SecantusDB 0.7.0b3) reads ``$gte`` on this compound index as ``$gt`` and misses the post at the bound.
_FIRST_PAGE_FLOOR: dict[tuple[str, bool], int] = {}  # (sort, pinned) -> key of the last post of a first page
_WINDOW = {"activity": 86_400_000, "views": 16, "upvotes": 16}  # first window below a cursor (ms, counts)
_WINDOW_GROWTH, _WINDOW_TRIES = 4, 8


def _find(posts: Collection, query: dict[str, Any], order: list[tuple[str, int]], limit: int) -> list[dict[str, Any]]:
    return list(posts.find(query, _LIST_FIELDS).sort(order).limit(limit).max_time_ms(MAX_TIME_MS))


def _phase(posts: Collection, query: dict[str, Any], sort: str, pinned: bool,
           after: tuple[int, str] | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` posts of one pinned/unpinned phase, after the (key, id) position if given.

    Two plain range queries rather than one ``$or``: the ties of the cursor's key (``_id`` below the
    cursor's), then strictly lower keys. Each is an equality prefix + range on the
    ``pinned_<sort>`` index in index order. Unfiltered, the range is bounded first (see above).
    """
    key_field = SORT_FIELDS[sort]
    order = [(key_field, -1), ("_id", -1)]  # is_pinned is an equality here: the index order all the same
    base = {**query, "is_pinned": pinned}
    bounded = not query
    if after is None:
        floor = _FIRST_PAGE_FLOOR.get((sort, pinned)) if bounded else None
        docs = [] if floor is None else _find(posts, {**base, key_field: {"$gt": _key_value(floor - 1, sort)}},
                                              order, limit)
        if len(docs) < limit:
            docs = _find(posts, base, order, limit)
        if bounded and len(docs) == limit:
            _FIRST_PAGE_FLOOR[(sort, pinned)] = _key_of(docs[-1], sort)
        return docs
    key = _key_value(after[0], sort)
    docs = _find(posts, {**base, key_field: key, "_id": {"$lt": after[1]}}, order, limit)
    if len(docs) < limit:
        need, width = limit - len(docs), _WINDOW[sort]
        for _ in range(_WINDOW_TRIES if bounded else 0):
            below = _find(posts, {**base, key_field: {"$gt": _key_value(after[0] - width, sort), "$lt": key}},
                          order, need)
            if len(below) == need:
                return docs + below
            width *= _WINDOW_GROWTH
        docs += _find(posts, {**base, key_field: {"$lt": key}}, order, need)
    return docs


def list_posts(*, category: str | None = None, tag: str | None = None, author_id: str | None = None,
               status: str | None = None, solved: bool | None = None, search: str = "",
               sort: Sort = "activity", cursor: str | None = None, page_size: int = 20) -> PostPage:
    """One page of posts matching the filters: pinned posts first, then by ``sort`` (newest activity,
    most views or most upvotes first; ``_id`` breaks ties). ``cursor`` is the ``next_cursor`` of the
    previous page (keyset pagination: no skip). Search is case-insensitive literal text in title or
    body. Raises InvalidInput for unacceptable filters or a cursor that does not fit the sort.
    """
    query = _filters(category=category, tag=tag, author_id=author_id, status=status, solved=solved,
                     search=search)
    sort = _sort(sort)
    page_size = _page_size(page_size)
    position = _decode_cursor(cursor, sort)
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    docs: list[dict[str, Any]] = []
    for pinned in (True, False):
        if position is not None and position[0] is False and pinned:
            continue  # the cursor is already past the pinned posts
        after = (position[1], position[2]) if position is not None and position[0] is pinned else None
        docs += _phase(posts, query, sort, pinned, after, page_size + 1 - len(docs))
        if len(docs) > page_size:
            break
    has_more = len(docs) > page_size
    docs = docs[:page_size]
    profiles = _names((d.get("author_id") for d in docs), batch=MAX_PAGE_SIZE)  # one query
    return PostPage(rows=[_row(d, profiles) for d in docs],
                    next_cursor=_encode_cursor(docs[-1], sort) if has_more and docs else None,
                    sort=sort, page_size=page_size)


def count_posts(*, category: str | None = None, tag: str | None = None, author_id: str | None = None,
                status: str | None = None, solved: bool | None = None, search: str = "") -> PostTotal:
    """How many posts match the filters: the collection's cached size when unfiltered, otherwise a
    count that stops at COUNT_LIMIT."""
    query = _filters(category=category, tag=tag, author_id=author_id, status=status, solved=solved,
                     search=search)
    if not query:  # the collection's size from the figure cache: a count is a scan on the embedded server
        return PostTotal(figures.collection_size(mongo.FORUM_POSTS))
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    n = int(posts.count_documents(query, limit=COUNT_LIMIT, maxTimeMS=MAX_TIME_MS))
    return PostTotal(n, capped=n >= COUNT_LIMIT)


# ------------------------------------------------------------------ counts for filters and charts


_CATEGORY_STAGES: list[dict[str, Any]] = [
    {"$group": {"_id": "$category", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1, "_id": 1}},
    {"$limit": MAX_FACETS}]
_TAG_STAGES: list[dict[str, Any]] = [
    {"$unwind": "$tags"}, {"$group": {"_id": "$tags", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1, "_id": 1}},
    {"$limit": MAX_FACETS}]
_AUTHOR_STAGES: list[dict[str, Any]] = [
    {"$group": {"_id": "$author_id", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1, "_id": 1}},
    {"$limit": MAX_AUTHORS}]


@dataclass(frozen=True, slots=True)
class ForumFacets:
    """What the filters offer, with counts: categories and tags most used first, authors by name."""

    categories: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    authors: list[AuthorChoice]


def _categories(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"category": r["_id"], "posts": int(r["posts"])} for r in rows if isinstance(r["_id"], str)]


def _tags(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"tag": r["_id"], "posts": int(r["posts"])} for r in rows if isinstance(r["_id"], str)]


def _authors(rows: Iterable[dict[str, Any]]) -> list[AuthorChoice]:
    rows = [r for r in rows if isinstance(r["_id"], str)]
    profiles = _names(r["_id"] for r in rows)
    choices = [AuthorChoice(author_id=r["_id"], name=_name(profiles, r["_id"]),
                            email=(profiles.get(r["_id"]) or {}).get("email", ""), posts=int(r["posts"]))
               for r in rows]
    return sorted(choices, key=lambda a: (a.name.casefold(), a.email, a.author_id))


def category_counts() -> list[dict[str, Any]]:
    """Posts per category, most first (one ``$group``; pages cache it)."""
    return _categories(mongo.get_db()[mongo.FORUM_POSTS].aggregate(_CATEGORY_STAGES, maxTimeMS=MAX_TIME_MS))


def tag_counts() -> list[dict[str, Any]]:
    """Posts per tag, most first (at most MAX_FACETS tags; pages cache it)."""
    return _tags(mongo.get_db()[mongo.FORUM_POSTS].aggregate(_TAG_STAGES, maxTimeMS=MAX_TIME_MS))


def post_authors() -> list[AuthorChoice]:
    """The people who wrote posts (the MAX_AUTHORS most active), sorted by name, for the author
    filter. Names come from profiles; an author without a profile is a former member."""
    return _authors(mongo.get_db()[mongo.FORUM_POSTS].aggregate(_AUTHOR_STAGES, maxTimeMS=MAX_TIME_MS))


def facet_counts() -> ForumFacets:
    """Posts per category and per tag (most first, at most MAX_FACETS tags) and the people who wrote
    posts (the MAX_AUTHORS most active, sorted by name; an author without a profile is a former member),
    in ONE pass over the posts (``$facet``) instead of three; the page caches it."""
    result = next(iter(mongo.get_db()[mongo.FORUM_POSTS].aggregate([{"$facet": {
        "categories": _CATEGORY_STAGES, "tags": _TAG_STAGES, "authors": _AUTHOR_STAGES}}], maxTimeMS=MAX_TIME_MS)), {})
    return ForumFacets(categories=_categories(result.get("categories", [])), tags=_tags(result.get("tags", [])),
                       authors=_authors(result.get("authors", [])))


# ------------------------------------------------------------------ a thread


def _build_tree(docs: list[dict[str, Any]], profiles: dict[str, dict[str, Any]]
                ) -> tuple[dict[str, Reply], tuple[str, ...], str | None]:
    """Replies (in path order) into a forest: a reply whose parent is missing, or comes later in
    path order (bad data), becomes top-level, so the result never has a cycle."""
    parent_of: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    children: dict[str | None, list[str]] = {None: []}
    for doc in docs:
        rid = doc["_id"]
        parent = doc.get("parent_id")
        if parent not in depth:
            parent = None
        parent_of[rid] = parent
        depth[rid] = 1 if parent is None else depth[parent] + 1
        children.setdefault(parent, []).append(rid)
        children.setdefault(rid, [])
    below: dict[str, int] = dict.fromkeys(parent_of, 0)
    for rid in reversed(parent_of):  # children come after parents: accumulate bottom-up
        if (parent := parent_of[rid]) is not None:
            below[parent] += below[rid] + 1
    replies: dict[str, Reply] = {}
    best: str | None = None
    for doc in docs:
        rid = doc["_id"]
        is_best = bool(doc.get("is_best_answer"))
        if is_best and best is None:
            best = rid
        replies[rid] = Reply(id=rid, parent_id=parent_of[rid], path=str(doc.get("path", "")), depth=depth[rid],
                             author_id=doc.get("author_id", ""), author=_name(profiles, doc.get("author_id")),
                             body=str(doc.get("body", "")), upvotes=int(doc.get("upvotes") or 0),
                             is_best_answer=is_best, created_at=doc.get("created_at"),
                             children=tuple(children[rid]), descendants=below[rid])
    return replies, tuple(children[None]), best


def thread(*, post_id: str) -> Thread:
    """A post and ALL its replies, read in one query (``post_id`` sorted by ``path``, the
    ``post_path`` index) and built into a tree in memory, with the best answer identified.
    A malformed or unknown id raises NotFound("No such post.")."""
    post_id = _post_id(post_id)
    db = mongo.get_db()
    doc = db[mongo.FORUM_POSTS].find_one({"_id": post_id}, max_time_ms=MAX_TIME_MS)
    if doc is None:
        raise NotFound("No such post.")
    # No projection: SecantusDB applies one in Python per document (+~170 ms on 5,000 replies).
    docs = list(db[mongo.FORUM_REPLIES].find({"post_id": post_id}).sort("path", 1).limit(MAX_THREAD_REPLIES + 1)
                .max_time_ms(MAX_TIME_MS))
    truncated = len(docs) > MAX_THREAD_REPLIES
    docs = docs[:MAX_THREAD_REPLIES]
    profiles = _names([doc.get("author_id"), *(d.get("author_id") for d in docs)])
    replies, top_level, best = _build_tree(docs, profiles)
    post = Post(id=doc["_id"], title=doc.get("title", ""), body=doc.get("body", ""),
                category=doc.get("category", ""), tags=tuple(doc.get("tags") or ()),
                author_id=doc.get("author_id", ""), author=_name(profiles, doc.get("author_id")),
                status=doc.get("status", "open"), views=int(doc.get("views") or 0),
                upvotes=int(doc.get("upvotes") or 0), reply_count=len(replies) if not truncated
                else int(doc.get("reply_count") or 0), pinned=bool(doc.get("is_pinned")),
                solved=best is not None, created_at=doc.get("created_at"),
                last_activity_at=doc.get("last_activity_at"))
    return Thread(post=post, replies=replies, top_level=top_level, best_answer_id=best, truncated=truncated)


def thread_lines(tree: Thread, *, branches: int = BRANCHES_PER_PAGE, expanded: Iterable[str] = (),
                 depth_cap: int = DEPTH_CAP, children_shown: int = CHILDREN_SHOWN,
                 focus: str | None = None) -> ThreadLines:
    """What to draw of a thread, in thread order: the first ``branches`` top-level branches, each
    folded two ways so one huge branch cannot flood the page. Depth: a reply ``depth_cap`` levels
    down that has replies gets a "more" line instead of them. Width: a reply shows its first
    ``children_shown`` replies, then a "more" line for the rest. A reply whose id is in ``expanded``
    shows all its replies (counting levels afresh below it). ``focus`` (a top-level reply id) draws
    that one branch alone, e.g. to show a best answer that sits far down a big thread."""
    branches = max(int(branches), 0)
    depth_cap = max(int(depth_cap), 1)
    children_shown = max(int(children_shown), 1)
    opened = set(expanded)
    lines: list[ThreadLine] = []
    visible: set[str] = set()
    shown = (focus,) if focus in tree.top_level else tree.top_level[:branches]
    # Iterative depth-first walk (a pathological chain must not hit Python's recursion limit).
    # Stack items: (reply id, level) for a reply; (reply id, -hidden) for its "more" line.
    stack: list[tuple[str, int]] = [(rid, 1) for rid in reversed(shown)]
    while stack:
        rid, level = stack.pop()
        reply = tree.replies[rid]
        if level < 0:
            lines.append(ThreadLine("more", reply, hidden=-level))
            continue
        lines.append(ThreadLine("reply", reply))
        visible.add(rid)
        if not reply.children:
            continue
        if rid in opened:
            stack.extend((child, 1 if level >= depth_cap else level + 1) for child in reversed(reply.children))
        elif level >= depth_cap:
            lines.append(ThreadLine("more", reply, hidden=reply.descendants))
        else:
            rest = reply.children[children_shown:]
            if rest:
                stack.append((rid, -sum(tree.replies[c].descendants + 1 for c in rest)))
            stack.extend((child, level + 1) for child in reversed(reply.children[:children_shown]))
    return ThreadLines(lines=lines, shown_branches=len(shown),
                       remaining_branches=max(len(tree.top_level) - len(shown), 0), visible=frozenset(visible))


class ReplyLocation(NamedTuple):
    """Where a reply sits in its thread."""

    branch: int  # 1-based position of its top-level branch
    top_level_id: str  # the top-level reply that starts its branch (itself when top-level)
    ancestors: tuple[str, ...]  # top-level first; expand these so no fold hides it


def reply_location(tree: Thread, *, reply_id: str) -> ReplyLocation:
    """Where a reply sits: its branch and its ancestors (what ``thread_lines`` needs to show it).
    Raises NotFound for a reply not in this thread."""
    reply = tree.replies.get(reply_id) if isinstance(reply_id, str) else None
    if reply is None:
        raise NotFound("No such reply in this thread.")
    ancestors: list[str] = []
    node = reply
    while node.parent_id is not None:
        ancestors.append(node.parent_id)
        node = tree.replies[node.parent_id]
    return ReplyLocation(tree.top_level.index(node.id) + 1, node.id, tuple(reversed(ancestors)))
