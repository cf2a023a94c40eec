"""``python -m p2p_store up | down | env | health [--json] | create-admin`` (docs/architecture.md, "Command line")."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time

from p2p_store.errors import one_line_error
from p2p_store.settings import SettingsError, get_settings, mask_url
from p2p_store.stores import local, ready


def _cmd_up(args: argparse.Namespace) -> int:
    settings = get_settings()
    start = time.perf_counter()
    pg_url, mongo_url = local.start_local(settings)
    result = ready.ensure_ready()
    took = time.perf_counter() - start
    print(f"PostgreSQL {result['versions']['postgresql']} at {mask_url(pg_url)} "
          f"(migration {result['migration']['current']})")
    print(f"MongoDB-protocol {result['versions']['mongodb']} at {mask_url(mongo_url)} (indexes and validators ensured)")
    print(f"ready in {took:.1f} s")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    for line in local.stop_local(get_settings()):
        print(line)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    settings = get_settings()
    pg_url, mongo_url = local.start_local(settings)
    # libpq-style URL (no "+psycopg") so psql accepts it too; SQLAlchemy maps it to psycopg.
    print(f"export DATABASE_URL={shlex.quote(pg_url.replace('postgresql+psycopg://', 'postgresql://', 1))}")
    print(f"export MONGODB_URL={shlex.quote(mongo_url)}")
    print(f"export MONGODB_DB={shlex.quote(settings.mongodb_db)}")
    # The consoles' read-only logins (#14); absent for an external store without one.
    ro_pg, ro_mongo = local.postgres_readonly_url(settings), local.mongodb_readonly_url(settings)
    if ro_pg:
        print(f"export DATABASE_READONLY_URL={shlex.quote(ro_pg.replace('postgresql+psycopg://', 'postgresql://', 1))}")
    if ro_mongo:
        print(f"export MONGODB_READONLY_URL={shlex.quote(ro_mongo)}")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    from p2p_store import health  # only here: `up` does not pay for importing the health report (#19.5)

    report = health.build_report()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"{report['status'].upper()}  (p2p-explorer {report['version']}, {report['timestamp']})")
        for name, check in report["checks"].items():
            detail = check.get("error") or ", ".join(
                f"{k}={v}" for k, v in check.items() if k not in ("status", "error") and v is not None)
            print(f"  {name:<12} {check['status']:<10} {detail}")
    return health.EXIT_CODES[report["status"]]


def _cmd_create_admin(args: argparse.Namespace) -> int:
    """Create or reactivate an admin (#15.4): the way back in when no active admin exists."""
    import getpass

    from p2p_store.accounts import bootstrap
    from p2p_store.errors import DomainError
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password for the admin: ")
        if getpass.getpass("Same password again: ") != password:
            print("error: the two passwords differ; nothing was changed", file=sys.stderr)
            return 1
    ready.ensure_ready()
    try:
        done = bootstrap.create_admin(email=args.email, password=password, full_name=args.name)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    what = "created" if done["created"] else f"now an active admin (was {done['old_role']})"
    print(f"{done['full_name']} <{done['email']}> {what}; sign in with the password just set.")
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    """Apply every event still pending in MongoDB (the event log is the outbox, #16)."""
    from p2p_store import outbox

    try:
        done = outbox.apply_pending()
    finally:
        left = outbox.pending_summary()["count"]
    for d in done:
        print(f"applied event {d['id']}: {d['action']} {d['object_email'] or d['object_id']} ({d['result']})")
    print(f"{len(done)} event(s) applied, {left} pending")
    return 0 if left == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p2p_store", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start embedded stores if needed, wait, migrate, ensure indexes")
    sub.add_parser("down", help="stop the embedded stores of this data dir")
    sub.add_parser("env", help="print export lines for the stores in use")
    health_cmd = sub.add_parser("health", help="health report; exit 0 healthy, 1 degraded, 2 unhealthy")
    health_cmd.add_argument("--json", action="store_true")
    admin = sub.add_parser("create-admin", help="create or reactivate an admin (password prompted or --password-stdin)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sub.add_parser("sync", help="apply every change still pending in MongoDB; exit 0 when none is left")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"up": _cmd_up, "down": _cmd_down, "env": _cmd_env, "health": _cmd_health,
                "create-admin": _cmd_create_admin, "sync": _cmd_sync}
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a CLI prints one line, not a traceback
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 2 if args.command == "health" else 1
