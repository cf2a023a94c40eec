"""``python -m seed [--scale N] [--random-seed S] [--json]`` and ``python -m seed --reset [--json]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tqdm import tqdm

from p2p_store.errors import DomainError, StoreUnavailable, one_line_error
from p2p_store.settings import SettingsError
from p2p_store.stores import ready
from seed import loader


class _Bars:
    """One tqdm bar per store/collection, fed by the loader's progress callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, event) -> None:
        if not self.enabled or event.total == 0:
            return
        key = f"{event.store}.{event.collection}"
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = tqdm(total=event.total, desc=f"{key:<26}", unit="doc", file=sys.stderr,
                                        leave=True, dynamic_ncols=True)
        bar.update(event.done - bar.n)
        if event.done >= event.total:
            bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seed", description="Reseed or reset both stores.")
    parser.add_argument("--scale", type=int, default=0, help="synthetic data: about N×100 users, N×50 posts, "
                        "N×500 replies, N×100 use cases (default 0: demo set only)")
    parser.add_argument("--random-seed", type=int, default=42, help="seed of the synthetic generator (default 42)")
    parser.add_argument("--reset", action="store_true", help="empty both stores' data, keep schema and indexes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    bars = _Bars(enabled=not args.json and sys.stderr.isatty())
    try:
        ready.ensure_ready()
        if args.reset:
            result = loader.reset(progress=bars)
        else:
            result = loader.reseed(scale=args.scale, random_seed=args.random_seed, progress=bars)
    except StoreUnavailable as exc:  # a store that is down is an error (exit 1), not a refusal
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 1
    except loader.SeedFailed as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except (DomainError, SettingsError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one readable line, not a traceback
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif args.reset:
        print(f"reset: both stores emptied in {result['duration_s']} s")
    else:
        counts = ", ".join(f"{k}={v}" for k, v in result["counts"].items())
        print(f"reseeded (scale {result['scale']}, random seed {result['random_seed']}) in {result['duration_s']} s: "
              f"{counts}")
        print(f"  PostgreSQL {result['postgresql']['rows_per_s']} rows/s, "
              f"MongoDB {result['mongodb']['documents_per_s']} docs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
