"""``python -m p2p_store up | down | env | health [--json]`` (DESIGN.md, "Command-line contract")."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time

from p2p_store.settings import SettingsError, get_settings, mask_url


def _cmd_up(args: argparse.Namespace) -> int:
    from p2p_store.stores import local, schema

    settings = get_settings()
    start = time.perf_counter()
    pg_url, mongo_url = local.start_local(settings)
    result = schema.bring_up()
    took = time.perf_counter() - start
    print(f"PostgreSQL {result['versions']['postgresql']} at {mask_url(pg_url)} "
          f"(migration {result['migration']['current']})")
    print(f"MongoDB-protocol {result['versions']['mongodb']} at {mask_url(mongo_url)} (indexes and validators ensured)")
    print(f"ready in {took:.1f} s")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from p2p_store.stores import local

    for line in local.stop_local(get_settings()):
        print(line)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from p2p_store.stores import local

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
    from p2p_store.health import EXIT_CODES, build_report

    report = build_report()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"{report['status'].upper()}  (p2p-explorer {report['version']}, {report['timestamp']})")
        for name, check in report["checks"].items():
            detail = check.get("error") or ", ".join(
                f"{k}={v}" for k, v in check.items() if k not in ("status", "error") and v is not None)
            print(f"  {name:<12} {check['status']:<10} {detail}")
    return EXIT_CODES[report["status"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p2p_store", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start embedded stores if needed, wait, migrate, ensure indexes")
    sub.add_parser("down", help="stop the embedded stores of this data dir")
    sub.add_parser("env", help="print export lines for the stores in use")
    health = sub.add_parser("health", help="health report; exit 0 healthy, 1 degraded, 2 unhealthy")
    health.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"up": _cmd_up, "down": _cmd_down, "env": _cmd_env, "health": _cmd_health}
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a CLI prints one line, not a traceback
        from p2p_store.health import one_line_error

        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 2 if args.command == "health" else 1
