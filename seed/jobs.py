"""A reseed or reset running in a thread of its own, so the admin page can poll its progress: a rerun
of the page (a click, a dialog closed, another page opened) must not stop it halfway. Two at once
are kept apart by the loader's lock; the second is refused with its message (#13: the job runner
lives with the seeding code, the page only shows it)."""

from __future__ import annotations

import threading
from typing import Any

from p2p_store.errors import DomainError, one_line_error
from seed import loader

KINDS = ("reseed", "reset")


class SeedJob:
    """A reseed or reset in a daemon thread; ``progress`` per (store, collection), then ``result`` or
    ``error`` (one line, never a traceback)."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self.progress: dict[tuple[str, str], loader.Progress] = {}
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.caches_cleared = False  # the page's own bookkeeping: caches cleared once after the job
        run = loader.reseed if kind == "reseed" else loader.reset
        self._thread = threading.Thread(target=self._work, args=(run, kwargs), daemon=True,
                                        name=f"data-admin-{kind}")
        self._thread.start()

    def _on_progress(self, event: loader.Progress) -> None:
        self.progress[(event.store, event.collection)] = event

    def _work(self, run: Any, kwargs: dict[str, Any]) -> None:
        try:
            self.result = run(progress=self._on_progress, **kwargs)
        except DomainError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one line on the page, never a traceback
            self.error = f"The stores did not answer: {one_line_error(exc)}. Reseed again to finish."

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job ends (tests, scripts); True when it has."""
        self._thread.join(timeout_s)
        return self.done
