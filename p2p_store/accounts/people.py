"""What a person's page reads (#15.2): their sign-ins grouped by device, and the audit rows about them.
Who may read: admins anyone's, a person their own (p2p_store.access decides)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from p2p_store import access
from p2p_store.errors import NotFound
from p2p_store.stores import pg
from p2p_store.stores.models import UserSession

MAX_ROWS = 500


def device_label(user_agent: str) -> str:
    """A short human name for a user agent ("Chrome 156 on Linux"); the full string stays available."""
    ua = user_agent or ""
    browser = next((name for key, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                                           ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
                    if key in ua), "Unknown browser")
    version = ""
    if browser != "Unknown browser":
        key = {"Edge": "Edg/", "Opera": "OPR/", "Safari": "Version/"}.get(browser, f"{browser}/")
        after = ua.split(key, 1)[1] if key in ua else ""
        version = after.split(".", 1)[0].split(" ", 1)[0]
    system = next((name for key, name in (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
                                          ("iPad", "iPadOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))
                   if key in ua), "unknown system")
    headless = " (headless)" if "Headless" in ua else ""
    return f"{browser}{' ' + version if version.isdigit() else ''}{headless} on {system}"


def person_sessions(*, actor_id: str, user_id: str, current_token_hash: str | None = None) -> list[dict[str, Any]]:
    """Open sign-ins of one person, newest first: admins for anyone, a person for themselves."""
    uid = access.as_uuid(user_id)
    if uid is None:
        raise NotFound("No such account.")
    with pg.new_session() as session:
        access.require_self_or_admin(session, actor_id, uid, message="Only an admin may see another person's sign-ins.")
        rows = session.scalars(select(UserSession).where(UserSession.user_id == uid,
                                                         UserSession.expires_at > func.now())
                               .order_by(UserSession.last_seen_at.desc()).limit(MAX_ROWS)).all()
    return [{"session_id": str(s.id), "since": s.created_at, "last_seen": s.last_seen_at, "expires": s.expires_at,
             "user_agent": s.user_agent, "device": device_label(s.user_agent),
             "current": current_token_hash is not None and s.token_hash == current_token_hash} for s in rows]

