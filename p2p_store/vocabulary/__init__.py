"""The platform's vocabulary: roles, industries, cities and regions, and the id scheme.

The domain owns these; the demo data (``seed``) reads them, never the other way round
(docs/architecture.md, "Layers"). The lists are data files beside this module.
"""

from __future__ import annotations

import functools
import json
import uuid
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent

ROLES: tuple[str, ...] = ("admin", "member", "user")
FORUM_CATEGORIES = ("Automation", "Maintenance", "Quality Management", "AI", "Energy Management", "Connectivity")

# Ids are uuid5 in one namespace, so the same email is the same account id on every run and in both
# stores, and a second reseed cannot duplicate anything.
NAMESPACE = uuid.UUID("6f1c8a52-2d4b-4a8e-9a57-3f0c2b7d9e41")


def user_id_for(email: str) -> uuid.UUID:
    """The id of the account with this email, the same on every run (case and spaces ignored)."""
    return uuid.uuid5(NAMESPACE, "user:" + email.strip().lower())


def doc_id(kind: str, key: str) -> str:
    """A document id derived from its kind and a natural key (e.g. ``doc_id("post", slug)``)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def _load(name: str) -> Any:
    return json.loads((_HERE / name).read_text(encoding="utf-8"))


@functools.cache
def cities() -> tuple[dict[str, Any], ...]:
    """Saudi industrial cities: name, region, lon, lat."""
    return tuple(_load("cities.json"))


@functools.cache
def industries() -> tuple[str, ...]:
    return tuple(_load("industries.json"))


@functools.cache
def regions() -> tuple[str, ...]:
    return tuple(sorted({c["region"] for c in cities()}))


def region_of(city: str) -> str:
    """The region of a known city, by its English or Arabic name (#15.6), or "" for a city not in the list."""
    import unicodedata

    key = unicodedata.normalize("NFKC", city or "").strip().casefold()
    return next((c["region"] for c in cities()
                 if key in (c["name"].casefold(), unicodedata.normalize("NFKC", c.get("name_ar", "")))), "")
