"""The data a reseed writes: the demo set from the JSON files beside this module, plus a synthetic
set generated with Faker for ``--scale N``. Ids are deterministic (uuid5), so the same email is the
same user id on every run and a second reseed cannot duplicate anything."""

from __future__ import annotations

import functools
import json
import random
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from p2p_store import vocabulary
from p2p_store.accounts.passwords import hash_password
from p2p_store.vocabulary import cities, doc_id, industries, user_id_for  # re-exported for the seeding code

DATA_DIR = Path(__file__).resolve().parent / "data"
FORUM_CATEGORIES = list(vocabulary.FORUM_CATEGORIES)
MAX_REPLY_DEPTH = 4  # synthetic threads go at most this deep (top-level replies have depth 1)


def _load(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


@functools.cache
def demo_accounts() -> list[dict[str, Any]]:
    """The demo accounts with their clear demo passwords (documented in the README; dev sign-in page)."""
    return _load("users.json")


@functools.cache
def _hash_of(password: str) -> str:
    """One argon2 hash per distinct password per process (#19.4): accounts that share a password share
    its hash (each hash still has its own salt and full cost), and a second reseed in the same process
    (the Data admin page, the benchmark) hashes nothing. The demo passwords are public (README)."""
    return hash_password(password)


@functools.cache
def _unusable_secret() -> str:
    """The secret behind every synthetic account's hash: random, kept by nobody, so they cannot sign in."""
    return secrets.token_urlsafe(24)


def hash_distinct(passwords: list[str]) -> dict[str, str]:
    """Hashes of the distinct ``passwords``, computed in parallel (argon2-cffi releases the GIL)."""
    distinct = sorted(set(passwords))
    with ThreadPoolExecutor(max_workers=max(len(distinct), 1)) as pool:
        return dict(zip(distinct, pool.map(_hash_of, distinct), strict=True))


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Dataset:
    users: list[dict[str, Any]] = field(default_factory=list)  # PostgreSQL rows
    profiles: list[dict[str, Any]] = field(default_factory=list)
    forum_posts: list[dict[str, Any]] = field(default_factory=list)
    forum_replies: list[dict[str, Any]] = field(default_factory=list)
    use_cases: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Dataset) -> None:
        for name in ("users", "profiles", "forum_posts", "forum_replies", "use_cases"):
            getattr(self, name).extend(getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {"users": len(self.users), "profiles": len(self.profiles), "forum_posts": len(self.forum_posts),
                "forum_replies": len(self.forum_replies), "use_cases": len(self.use_cases)}


def _account(person: dict[str, Any], password_hash: str, cities_by_name: dict[str, dict]) -> tuple[dict, dict]:
    email = person["email"].strip().lower()
    uid = user_id_for(email)
    joined = _dt(person["joined_at"]) if isinstance(person["joined_at"], str) else person["joined_at"]
    user = {"id": uid, "email": email, "full_name": person["full_name"], "company": person["company"],
            "role": person["role"], "password_hash": password_hash, "is_active": True, "created_at": joined}
    city = person.get("city", "")
    profile = {"_id": str(uid), "email": email, "full_name": person["full_name"], "company": person["company"],
               "role": person["role"], "industry": person.get("industry", ""), "city": city,
               "region": cities_by_name.get(city, {}).get("region", ""), "expertise": list(person.get("expertise", [])),
               "bio": person.get("bio", ""), "job_title": person.get("job_title", ""), "joined_at": joined}
    return user, profile


def _flatten_replies(post_id: str, replies: list[dict], authors: dict[str, str], *, parent_id: str | None = None,
                     parent_path: str = "", depth: int = 1, out: list[dict] | None = None) -> list[dict]:
    out = [] if out is None else out
    for n, reply in enumerate(replies, start=1):
        rid = doc_id("reply", reply["slug"])
        path = f"{parent_path}.{n:04d}" if parent_path else f"{n:04d}"
        out.append({"_id": rid, "post_id": post_id, "parent_id": parent_id, "path": path, "depth": depth,
                    "author_id": authors[reply["author"].lower()], "body": reply["body"],
                    "upvotes": int(reply.get("upvotes", 0)), "is_best_answer": bool(reply.get("is_best_answer")),
                    "created_at": _dt(reply["created_at"])})
        _flatten_replies(post_id, reply.get("replies", []), authors, parent_id=rid, parent_path=path,
                         depth=depth + 1, out=out)
    return out


def _post(raw: dict[str, Any], post_id: str, author_id: str, replies: list[dict]) -> dict[str, Any]:
    created = _dt(raw["created_at"]) if isinstance(raw["created_at"], str) else raw["created_at"]
    last = max([created] + [r["created_at"] for r in replies])
    return {"_id": post_id, "title": raw["title"], "body": raw["body"], "category": raw["category"],
            "tags": list(raw.get("tags", [])), "author_id": author_id, "status": raw.get("status", "open"),
            "views": int(raw.get("views", 0)), "upvotes": int(raw.get("upvotes", 0)),
            "reply_count": len(replies), "is_pinned": bool(raw.get("is_pinned")),
            "has_best_answer": any(r["is_best_answer"] for r in replies),
            "created_at": created, "last_activity_at": last}


def _use_case(raw: dict[str, Any], kind: str, submitted_by: str) -> dict[str, Any]:
    doc = {k: v for k, v in raw.items() if k not in ("basic_slug",)}
    doc.update({"_id": doc_id("use_case", raw["slug"]), "kind": kind, "submitted_by": submitted_by,
                "created_at": _dt(raw["created_at"]) if isinstance(raw["created_at"], str) else raw["created_at"],
                "detailed_version_id": None, "basic_version_id": None})
    return doc


def demo_dataset(*, hashes: dict[str, str] | None = None) -> Dataset:
    """The demo set of the seed story: 3 accounts, 17 use cases (15 basic, 2 detailed), 4 posts."""
    cities_by_name = {c["name"]: c for c in cities()}
    hashes = hashes or hash_distinct([p["password"] for p in demo_accounts()])
    data = Dataset()
    for person in demo_accounts():
        user, profile = _account(person, hashes[person["password"]], cities_by_name)
        data.users.append(user)
        data.profiles.append(profile)
    authors = {u["email"]: str(u["id"]) for u in data.users}

    for raw in _load("forum.json"):
        post_id = doc_id("post", raw["slug"])
        replies = _flatten_replies(post_id, raw.get("replies", []), authors)
        data.forum_posts.append(_post(raw, post_id, authors[raw["author"].lower()], replies))
        data.forum_replies.extend(replies)

    cases = _load("use_cases.json")
    by_slug: dict[str, dict] = {}
    for raw in cases["basic"]:
        doc = _use_case(raw, "basic", authors[raw["submitted_by"].lower()])
        by_slug[raw["slug"]] = doc
        data.use_cases.append(doc)
    for raw in cases["detailed"]:
        doc = _use_case(raw, "detailed", authors[raw["submitted_by"].lower()])
        basic = by_slug[raw["basic_slug"]]
        doc["basic_version_id"] = basic["_id"]
        basic["detailed_version_id"] = doc["_id"]
        data.use_cases.append(doc)
    return data


def synthetic_dataset(scale: int, random_seed: int, *, shared_hash: str | None = None) -> Dataset:
    """About scale×100 accounts, ×50 posts, ×500 replies (threads up to depth 4), ×100 use cases."""
    from faker import Faker

    data = Dataset()
    if scale <= 0:
        return data
    fake = Faker("en_US")
    fake.seed_instance(random_seed)
    rng = random.Random(random_seed)
    city_list = cities()
    cities_by_name = {c["name"]: c for c in city_list}
    inds = industries()
    demo_cases = _load("use_cases.json")["basic"]
    technologies = sorted({t for case in demo_cases for t in case["technologies"]})
    tags = sorted({t for post in _load("forum.json") for t in post["tags"]})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span_s = int((datetime(2025, 11, 1, tzinfo=UTC) - start).total_seconds())
    # Synthetic accounts cannot sign in: they share the hash of a secret nobody keeps (hashing
    # thousands of argon2 passwords would dominate the reseed time).
    shared_hash = shared_hash or _hash_of(_unusable_secret())

    for i in range(scale * 100):
        first, last = fake.first_name(), fake.last_name()
        city = rng.choice(city_list)["name"]
        person = {"email": f"{first}.{last}.{i}@{fake.domain_name()}".lower(), "full_name": f"{first} {last}",
                  "company": fake.company(), "role": rng.choices(["admin", "member", "user"], [3, 60, 37])[0],
                  "industry": rng.choice(inds), "city": city, "expertise": rng.sample(technologies, 3),
                  "bio": fake.sentence(nb_words=14), "job_title": fake.job()[:80],
                  "joined_at": start + timedelta(seconds=rng.randrange(span_s))}
        user, profile = _account(person, shared_hash, cities_by_name)
        data.users.append(user)
        data.profiles.append(profile)
    author_ids = [p["_id"] for p in data.profiles]

    posts_n, replies_n = scale * 50, scale * 500
    for i in range(posts_n):
        post_id = doc_id("post", f"synthetic:{random_seed}:{i}")
        created = start + timedelta(seconds=rng.randrange(span_s))
        raw = {"title": fake.sentence(nb_words=rng.randint(6, 11)).rstrip(".") + "?",
               "body": "\n".join(fake.paragraphs(nb=rng.randint(1, 3))), "category": rng.choice(FORUM_CATEGORIES),
               "tags": rng.sample(tags, rng.randint(1, 4)), "status": rng.choices(["open", "closed"], [4, 1])[0],
               "views": rng.randint(5, 5000), "upvotes": rng.randint(0, 120), "created_at": created}
        per_post = replies_n // posts_n + (1 if i < replies_n % posts_n else 0)
        replies: list[dict] = []
        children: dict[str | None, int] = {}
        for j in range(per_post):
            candidates = [r for r in replies if r["depth"] < MAX_REPLY_DEPTH]
            parent = rng.choice(candidates) if candidates and rng.random() < 0.6 else None
            parent_id = parent["_id"] if parent else None
            children[parent_id] = children.get(parent_id, 0) + 1
            path = f"{parent['path']}.{children[parent_id]:04d}" if parent else f"{children[None]:04d}"
            when = (parent["created_at"] if parent else created) + timedelta(minutes=rng.randint(5, 60 * 72))
            replies.append({"_id": doc_id("reply", f"synthetic:{random_seed}:{i}:{j}"), "post_id": post_id,
                            "parent_id": parent_id, "path": path, "depth": parent["depth"] + 1 if parent else 1,
                            "author_id": rng.choice(author_ids), "body": fake.paragraph(nb_sentences=3),
                            "upvotes": rng.randint(0, 40), "is_best_answer": False, "created_at": when})
        if replies and rng.random() < 0.3:
            rng.choice(replies)["is_best_answer"] = True
        replies.sort(key=lambda r: r["path"])
        data.forum_posts.append(_post(raw, post_id, rng.choice(author_ids), replies))
        data.forum_replies.extend(replies)

    for i in range(scale * 100):
        city = rng.choice(city_list)
        industry = rng.choice(inds)
        raw = {"slug": f"synthetic-{random_seed}-{i}", "title": fake.catch_phrase(), "company": fake.company(),
               "industry": industry, "technologies": rng.sample(technologies, rng.randint(2, 4)),
               "description": fake.paragraph(nb_sentences=3), "city": city["name"], "region": city["region"],
               "location": {"type": "Point", "coordinates": [round(city["lon"] + rng.uniform(-0.25, 0.25), 5),
                                                            round(city["lat"] + rng.uniform(-0.25, 0.25), 5)]},
               "status": "published", "benefits": [fake.bs().capitalize()],
               "created_at": start + timedelta(seconds=rng.randrange(span_s))}
        data.use_cases.append(_use_case(raw, "basic", rng.choice(author_ids)))
    return data


def full_dataset(scale: int = 0, random_seed: int = 42) -> Dataset:
    """Demo set + synthetic set; every distinct password is hashed once, all of them at the same time."""
    passwords = [p["password"] for p in demo_accounts()] + ([_unusable_secret()] if scale > 0 else [])
    hashes = hash_distinct(passwords)
    data = demo_dataset(hashes=hashes)
    if scale > 0:
        data.extend(synthetic_dataset(scale, random_seed, shared_hash=hashes[_unusable_secret()]))
    return data
