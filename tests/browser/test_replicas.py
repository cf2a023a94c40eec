"""Two app replicas on the same stores (#17): two ``streamlit run`` processes on different ports,
started the README way against one data dir brought up by ``python -m p2p_store up`` and the URLs
``python -m p2p_store env`` prints (as a load balancer's replicas would be).

- a session made by one app process is accepted by another (sessions live in PostgreSQL; the
  browser cannot carry a session between ports until sessions move to cookies, so this step signs
  in through AppTest in one process and resumes the token in a second process);
- a role change made in replica A shows in replica B on its next run (the Overview's accounts by
  role are counted live: lag 0; cached lists such as the Users page lag at most their ttl, 30 s;
  the figure cache at most 60 s + one refresh — see p2p_store/community/stats.py);
- a reseed started in A is refused in B while it runs (the lock is PostgreSQL's advisory lock, in the
  store, not the process); A's reseed waits on a pause file (``P2P_SEED_PAUSE``, set for A only) while
  B tries, so the overlap does not depend on how fast the machine is;
- the Health page of each replica reports the same store state.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from p2p_store.vocabulary import user_id_for
from tests.app_process import start_app, stop_app, wait_health
from tests.browser.helpers import go, open_app, pick, sign_in_demo, wait_idle

REPO_ROOT = Path(__file__).resolve().parents[2]
AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA_ID = str(user_id_for("sara.hassan@advanced-electronics.sa"))


def _run(args: list[str], env: dict[str, str], timeout: int = 300) -> str:
    proc = subprocess.run([sys.executable, *args], check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def replicas(browser):
    # the session's one Playwright browser (tests/browser/conftest.py): a second sync Playwright in
    # the same process is refused while the first runs
    data_dir = tempfile.mkdtemp(prefix="p2p-replicas-")
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URL", "MONGODB_DB", "P2P_ENV")}
    base["P2P_DATA_DIR"] = data_dir
    _run(["-m", "p2p_store", "up"], base)
    _run(["-m", "seed"], base)
    env = dict(base)
    for line in _run(["-m", "p2p_store", "env"], base).splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    assert env["DATABASE_URL"] and env["MONGODB_URL"]
    env.pop("P2P_DATA_DIR")  # the replicas know only the URLs, like two containers behind a balancer
    procs, urls = [], []
    pause = Path(data_dir) / "reseed-pause"  # replica A's reseeds wait while this file exists
    for name in ("a", "b"):
        replica_env = {**env, "P2P_SEED_PAUSE": str(pause)} if name == "a" else env
        log = open(Path(data_dir) / f"streamlit-{name}.log", "wb")  # noqa: SIM115 - closed at teardown
        proc, url = start_app(replica_env, log=log)
        procs.append((proc, log))
        urls.append(url)
    try:
        for (proc, _), url in zip(procs, urls, strict=True):
            wait_health(url, proc)
        yield {"urls": urls, "env": env, "browser": browser, "pids": [proc.pid for proc, _ in procs],
               "pause": pause}
    finally:
        for proc, log in procs:
            stop_app(proc)
            log.close()
        subprocess.run([sys.executable, "-m", "p2p_store", "down"], check=False, cwd=REPO_ROOT, env=base, timeout=60,
                       capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def _page(replicas, which: int):
    context = replicas["browser"].new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)  # two apps, two browsers and the stores on one busy 2-core machine
    open_app(page, replicas["urls"][which])
    sign_in_demo(page, "Ahmed")
    return page


def _admin_count(page) -> int:
    text = page.get_by_text(re.compile(r"\d+ admin · \d+ member · \d+ user")).first.inner_text()
    return int(re.search(r"(\d+) admin", text).group(1))


SIGN_IN = f"""
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120)
at.run()
at.button(key="demo_{AHMED}").click().run()
assert not at.exception, at.exception
print(at.session_state["auth_token"])
"""

RESUME = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120)
at.session_state["auth_token"] = sys.argv[1]
at.run()
assert not at.exception, at.exception
print([t.value for t in at.title])
"""


def test_a_session_made_in_one_process_is_accepted_by_another(replicas):
    token = _run(["-c", SIGN_IN], replicas["env"]).strip().splitlines()[-1]
    assert len(token) >= 20
    titles = _run(["-c", RESUME, token], replicas["env"]).strip().splitlines()[-1]
    assert "Overview" in titles  # signed in: the first page after sign-in, not the sign-in form
    unknown = _run(["-c", RESUME, "not-a-session-token-0000000000"], replicas["env"]).strip().splitlines()[-1]
    assert "Overview" not in unknown


def test_a_role_change_in_one_replica_shows_in_the_other_on_its_next_run(replicas):
    a, b = _page(replicas, 0), _page(replicas, 1)
    try:
        before = _admin_count(b)
        sara = f"users?person={SARA_ID}"  # a person's page is a deep link (#15.2)
        for role, admins in (("admin", before + 1), ("member", before)):
            a.goto(f"{replicas['urls'][0]}/{sara}")
            a.get_by_role("heading", name="Sara Hassan").wait_for()
            pick(a, "New role", role)
            a.get_by_role("button", name="Save role").click()
            a.get_by_text("→ " + role).first.wait_for()  # the toast
            # B's next run of the Overview (accounts by role are counted live: no lag to wait for).
            go(b, "Users & roles")
            go(b, "Overview")
            assert _admin_count(b) == admins
    finally:
        a.context.close()
        b.context.close()


def _seed_lock_held(env: dict[str, str]) -> bool:
    import psycopg

    from p2p_store.stores.generation import LOCK_KEY

    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                            (LOCK_KEY,)).fetchone()[0] > 0


def _start_reseed(page) -> None:
    go(page, "Data admin")
    page.get_by_role("button", name="Reseed…").click()
    page.get_by_role("button", name="Replace the data").click()


def test_a_reseed_started_in_one_replica_is_refused_in_the_other_while_it_runs(replicas):
    a, b = _page(replicas, 0), _page(replicas, 1)
    pause = replicas["pause"]
    try:
        pause.touch()
        _start_reseed(a)
        deadline = time.monotonic() + 120
        while not _seed_lock_held(replicas["env"]):  # A's reseed has the lock and waits on the file
            assert time.monotonic() < deadline, "replica A's reseed never took the lock"
            time.sleep(0.2)
        _start_reseed(b)
        b.get_by_text("Another reseed or reset is running").first.wait_for()
        b.get_by_text("Reseed did not run").first.wait_for()
        assert _seed_lock_held(replicas["env"])  # B's refusal did not take or release A's lock
        pause.unlink()
        a.get_by_text("Reseeded", exact=False).first.wait_for()
        assert not a.get_by_text("Another reseed or reset is running").count()
        deadline = time.monotonic() + 30
        while _seed_lock_held(replicas["env"]):  # released when A's reseed ends
            assert time.monotonic() < deadline, "the seeding lock outlived replica A's reseed"
            time.sleep(0.2)
    finally:
        pause.unlink(missing_ok=True)
        a.context.close()
        b.context.close()


def _health(page) -> dict:
    go(page, "Health")
    page.get_by_text("Report as JSON").click()
    page.locator('[data-testid="stJson"]').wait_for()
    wait_idle(page)
    text = page.locator('[data-testid="stJson"]').inner_text()
    keys = ("status", "server_version", "current", "head", "role_drift", "orphans")
    return {k: sorted(set(re.findall(rf'"?{k}"?\s*:\s*"?([^",\n]+)', text))) for k in keys}


def test_health_in_each_replica_reports_the_same_store_state(replicas):
    a, b = _page(replicas, 0), _page(replicas, 1)
    try:
        state_a, state_b = _health(a), _health(b)
        assert state_a["status"] and state_a["server_version"], state_a
        assert state_a == state_b  # overall and per-check status, server versions, revisions, drift
    finally:
        a.context.close()
        b.context.close()

