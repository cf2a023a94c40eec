"""The one health report (docs/architecture.md, "Health"): the CLI, the sidebar and the health page
render the dict :func:`build_report` returns.

- :mod:`.probes` what is checked and how (a dedicated PostgreSQL probe connection, a bounded Mongo
  ping, cached consistency counts), against store handles (:class:`.probes.Targets`);
- :mod:`.threads` reused daemon threads and one attempt in flight per check;
- :mod:`.report` the report under one deadline, and the latest report for screens that must not wait.
"""

from p2p_store.health.probes import CONSISTENCY_MAX_AGE_S, Targets, app_targets, targets_for
from p2p_store.health.report import EXIT_CODES, build_report, clear_cache, latest_report

__all__ = ["CONSISTENCY_MAX_AGE_S", "EXIT_CODES", "Targets", "app_targets", "build_report", "clear_cache",
           "latest_report", "targets_for"]
