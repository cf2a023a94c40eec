"""Notebooks (issue #18): the read API, the notebooks in notebooks/, and "Open as notebook".

Every notebook runs for real (nbclient, an ipykernel) against the session's embedded stores: the
kernel gets this process's environment (P2P_DATA_DIR of the temp data dir, or DATABASE_URL /
MONGODB_URL), and starts in notebooks/ as Jupyter would. One kernel serves the whole module (a
kernel start costs seconds on a busy machine); each notebook starts from an emptied namespace.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from sqlalchemy import text

from p2p_store import frames as f
from p2p_store import notebook_export
from p2p_store.community import forum, use_cases
from p2p_store.data import console, explorer, masking
from p2p_store.errors import InvalidInput, PermissionDenied, Refused

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 180  # seconds per cell: generous, the machine is shared
ADMIN_EMAIL = "ahmed.faisal@advanced-electronics.sa"
MEMBER_EMAIL = "sara.hassan@advanced-electronics.sa"


@pytest.fixture(scope="module")
def demo_data(stores):
    """The demo set, seeded once for this module (nothing here writes)."""
    from p2p_store.stores import pg
    from seed.loader import reseed

    reseed(scale=0)
    with pg.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM user_sessions"))
    return stores


@pytest.fixture(scope="module")
def kernel(demo_data):
    """One ipykernel in notebooks/, with this process's environment (the temp data dir's settings)."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(NOTEBOOK_DIR), env=dict(os.environ))
    yield km
    km.shutdown_kernel(now=True)


def run(km: KernelManager, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Execute ``nb`` from a clean namespace in notebooks/; raises CellExecutionError on any error."""
    reset = nbformat.v4.new_code_cell(
        f"get_ipython().run_line_magic('reset', '-f')\nimport os\nos.chdir({str(NOTEBOOK_DIR)!r})")
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # a copy
    nb.cells.insert(0, reset)
    NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False).execute()
    nb.cells.pop(0)
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k.startswith("text/"))
    return "\n".join(parts)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with tz-aware dates in UTC: bson's UTC and its unpickled copy are equal, not identical."""
    return frame.apply(lambda col: col.dt.tz_convert("UTC") if isinstance(col.dtype, pd.DatetimeTZDtype) else col)


def account_id(email: str) -> str:
    return f.accounts(search=email).id.iloc[0]


# ------------------------------------------------------------------ stored notebooks


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path
        dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
        assert not dirty, f"{path.name}: cells {dirty} hold outputs: run `nbstripout {path}`"
        assert "import p2p_store.frames as f" in code[0].source, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_runs_end_to_end_on_the_demo_data(kernel, path):
    nb = run(kernel, nbformat.read(path, as_version=4))
    shown = outputs_text(nb)
    assert "Traceback" not in shown
    if "community" in path.stem:
        assert "Ahmed Al-Faisal" in shown and "Electronics Manufacturing" in shown
    if "forum" in path.stem:
        assert "My experience implementing predictive maintenance" in shown
    if "map" in path.stem:
        maps = [d for c in nb.cells for o in c.get("outputs", []) for d in [o.get("data", {}).get("text/html", "")]
                if "deck-container" in d]
        assert len(maps) == 2  # every case, then the radius search
        assert "ScatterplotLayer" in maps[0] and "GeoJsonLayer" in maps[0]
        assert "is_saudi" in maps[0]  # the outlines travel with the map
        assert "cdn.jsdelivr.net/npm/@deck.gl/jupyter-widget" not in maps[0]  # deck.gl is inline: no CDN needed


# ------------------------------------------------------------------ "Open as notebook"


def expected_explorer(store, name, sort, descending, filters, limit):
    """What the explorer page's Rows tab shows for this view (its own call and table)."""
    page = explorer.browse_rows(store=store, name=name, sort=sort, descending=descending, filters=filters,
                                after=None, page_size=limit)
    return pd.DataFrame([explorer.flatten_row(r) for r in page.rows])


def views(admin: str) -> dict[str, tuple[str, dict, object]]:
    """label -> (kind, view as the page passes it, what the page shows for it)."""
    users = {"store": "postgresql", "name": "users", "sort": "email", "descending": True,
             "filters": (("role", "eq", "admin"),), "limit": 25}
    posts = {"store": "mongodb", "name": "forum_posts", "sort": "created_at", "descending": False,
             "filters": (("status", "eq", "open"), ("views", "gte", "1")), "limit": 3}
    sql = "SELECT email, role, 'not shown' AS token_hash\nFROM users\nWHERE role = 'admin'\nORDER BY email"
    pipeline = ('[{"$match": {"kind": "basic"}}, {"$group": {"_id": "$region", "cases": {"$sum": 1}}}, '
                '{"$sort": {"_id": 1}}]')
    forum_view = {"category": None, "tag": None, "author_id": None, "status": "open", "solved": None, "search": "",
                  "sort": "upvotes", "limit": 2}
    no_filters = {"industry": None, "region": None, "city": None, "technology": None, "kind": None, "near": None}
    map_view = {**no_filters, "industry": "Petrochemicals", "kind": "basic"}
    near_view = {**no_filters, "near": (50.1, 26.43, 150.0)}
    return {
        "explorer-postgresql": ("explorer", users, expected_explorer(**users)),
        "explorer-mongodb": ("explorer", posts, expected_explorer(**posts)),
        "sql": ("sql", {"sql": sql, "actor_id": admin}, console.run_sql(actor_id=admin, sql=sql)),
        "mongo": ("mongo", {"collection": "use_cases", "mode": "pipeline", "text": pipeline, "actor_id": admin},
                  console.run_mongo(actor_id=admin, collection="use_cases", mode="pipeline", text=pipeline)),
        "forum": ("forum", forum_view,
                  forum.list_posts(**{k: v for k, v in forum_view.items() if k != "limit"}, page_size=2)),
        "map": ("map", map_view, use_cases.list_use_cases(**map_view)),
        "map-near": ("map", near_view, use_cases.list_use_cases(**near_view)),
    }


KINDS = ["explorer-postgresql", "explorer-mongodb", "sql", "mongo", "forum", "map", "map-near"]


@pytest.mark.parametrize("label", KINDS)
def test_a_generated_notebook_reproduces_the_view_it_was_opened_from(kernel, tmp_path, label):
    kind, view, shown = views(account_id(ADMIN_EMAIL))[label]
    nb = notebook_export.build(kind, **view)
    assert [c.cell_type for c in nb.cells] == ["code", "code", "code"]
    assert "df = f." in nb.cells[0].source and nb.cells[1].source == "df"
    out = tmp_path / "first.pkl"
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"df.to_pickle({str(out)!r})"))
    executed = run(kernel, nb)
    got = pd.read_pickle(out)
    assert executed.cells[2].outputs, "the show cell displays the frame"
    assert executed.cells[3].outputs, "the chart cell draws something"

    if label.startswith("explorer"):
        assert len(shown) > 0
        pd.testing.assert_frame_equal(comparable(got), comparable(shown))
        if label == "explorer-postgresql":
            assert set(got["role"]) == {"admin"} and len(got) == 2
            assert set(got["password_hash"]) == {masking.MASK}
        else:
            assert len(got) == 3 and (got["status"] == "open").all()
    elif label in ("sql", "mongo"):
        assert shown.rows
        pd.testing.assert_frame_equal(comparable(got), comparable(pd.DataFrame(shown.rows, columns=shown.columns)))
        if label == "sql":
            # masking is by column, never by name (#14): a literal named like a secret is not one
            assert list(got["token_hash"]) == ["not shown", "not shown"]
    elif label == "forum":
        assert [r.id for r in shown.rows] == list(got["id"]) and len(got) == 2
        assert [r.upvotes for r in shown.rows] == list(got["upvotes"])
        assert list(got.columns) == [fl.name for fl in dataclasses.fields(forum.PostRow)]
    else:
        assert shown and [r["id"] for r in shown] == list(got["id"])
        assert [r["lon"] for r in shown] == list(got["lon"]) and [r["lat"] for r in shown] == list(got["lat"])
        if label == "map":
            assert set(got["industry"]) == {"Petrochemicals"} and set(got["kind"]) == {"basic"}
        else:
            assert list(got["distance_km"]) == sorted(got["distance_km"]) and (got["distance_km"] <= 150).all()


_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]+:[^@\s/'\"]+@")


def test_a_generated_notebook_holds_no_address_password_or_secret(demo_data, settings):
    from p2p_store.accounts import auth
    from p2p_store.stores import local, pg

    auth.sign_in(email=ADMIN_EMAIL, password="Admin@2025!")  # a live session: its token hash is a secret too
    with pg.get_engine().connect() as conn:
        secrets = [*conn.execute(text("SELECT password_hash FROM users")).scalars(),
                   *conn.execute(text("SELECT token_hash FROM user_sessions")).scalars()]
    assert any(s.startswith("$argon2") for s in secrets) and len(secrets) >= 4
    pg_url, mongo_url = local.start_local(settings)
    credentials = settings.data_dir.expanduser().resolve() / "mongo" / "credentials.json"
    if credentials.exists():
        secrets.append(json.loads(credentials.read_text())["password"])
    secrets += [pg_url, mongo_url, settings.mongodb_url, settings.database_url]

    admin = account_id(ADMIN_EMAIL)
    for label, (kind, view, _) in views(admin).items():
        nb_text = notebook_export.notebook_bytes(kind, **view).decode("utf-8")
        assert not _URL_WITH_PASSWORD.search(nb_text), label
        assert "$argon2" not in nb_text and "mongodb://" not in nb_text and "postgresql" + "+psycopg" not in nb_text
        for secret in filter(None, secrets):
            assert secret not in nb_text, label
    # The download is the same notebook, as bytes; the name says what it holds.
    kind, view, _ = views(admin)["explorer-mongodb"]
    assert nbformat.reads(notebook_export.notebook_bytes(kind, **view).decode(), as_version=4).cells
    assert notebook_export.file_name(kind, **view) == "p2p-explorer-forum-posts.ipynb"


def test_view_values_become_literals_never_code():
    """Whatever a person typed into a filter or the console goes in as a Python literal, exactly."""
    hostile = {"category": "x'); import os; os.remove('y", "search": '"""\\\n{ROOT}', "tag": "\x00\u202e"}
    nb = notebook_export.build("forum", author_id=None, status=None, solved=None, sort="activity", limit=5, **hostile)
    calls = [node for node in ast.walk(ast.parse(nb.cells[0].source)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "posts"]
    assert len(calls) == 1
    passed = {kw.arg: kw.value for kw in calls[0].keywords}
    for name, value in hostile.items():
        assert isinstance(passed[name], ast.Constant) and passed[name].value == value, name
    for query in ("SELECT 1 AS one\nFROM users", 'SELECT \'a\'\'\' AS "b"""\nFROM users', "SELECT '\\'\n"):
        cell = notebook_export.build("sql", sql=query, actor_id="x").cells[0].source
        assigned = [node for node in ast.walk(ast.parse(cell)) if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", "") == "QUERY"]
        assert len(assigned) == 1 and ast.literal_eval(assigned[0].value) == query
    with pytest.raises(ValueError):
        notebook_export.build("map", industry=object(), region=None, city=None, technology=None, kind=None, near=None)
    with pytest.raises(ValueError):
        notebook_export.build("nope")


# ------------------------------------------------------------------ the read API's rules


def test_the_read_api_masks_exactly_the_columns_outside_the_allow_list(demo_data):
    from p2p_store.accounts import auth

    auth.sign_in(email=MEMBER_EMAIL, password="Member@2025!")  # a session row, so user_sessions has one
    admin = account_id(ADMIN_EMAIL)
    tables = set(f.sources("postgresql", actor_id=admin)["name"])
    assert {"users", "user_sessions", "events"} <= tables and masking.ADMIN_ONLY_TABLES <= tables
    for table_name in sorted(tables):
        if not explorer.sort_fields(store="postgresql", name=table_name, actor_id=admin):
            # sign_in_failures: its only key is masked, so the page lists no rows either; its fields
            # still say which columns are masked
            fields = f.fields("postgresql", table_name, actor_id=admin)
            assert set(fields.name[fields.masked]) == {c for c in fields.name
                                                      if c not in masking.VISIBLE_COLUMNS.get(table_name, ())}
            continue
        frame = f.table("postgresql", table_name, limit=100, actor_id=admin)
        page = explorer.browse_rows(store="postgresql", name=table_name, page_size=100, actor_id=admin,
                                    sort=explorer.default_sort(store="postgresql", name=table_name, actor_id=admin))
        pd.testing.assert_frame_equal(frame, pd.DataFrame([explorer.flatten_row(r) for r in page.rows]))
        fields = f.fields("postgresql", table_name, actor_id=admin).set_index("name")
        hidden = {c for c in fields.index if c not in masking.VISIBLE_COLUMNS.get(table_name, ())}
        assert set(fields.index[fields["masked"]]) == hidden, table_name
        if len(frame):
            assert hidden <= set(frame.columns), table_name  # a masked column is shown as MASK, not left out
        for column in frame.columns:  # JSON columns come flattened ("after.role")
            if column.split(".")[0] in hidden:
                assert set(frame[column]) == {f.MASK}, (table_name, column)
            else:
                assert f.MASK not in set(frame[column].astype(str)), (table_name, column)
    # the secrets are among the hidden columns, and the tables that hold them have rows to mask
    users = f.table("postgresql", "users", limit=100)
    assert len(users) == 3 and set(users["password_hash"]) == {f.MASK}
    sessions = f.table("postgresql", "user_sessions", limit=100, actor_id=admin)
    assert len(sessions) >= 1 and set(sessions["token_hash"]) == {f.MASK}
    assert "password_hash" not in f.accounts().columns


def test_the_admin_only_tables_need_an_admin_through_the_read_api(demo_data):
    member = account_id(MEMBER_EMAIL)
    for who in (None, member):
        assert not masking.ADMIN_ONLY_TABLES & set(f.sources("postgresql", actor_id=who)["name"])
        for table_name in masking.ADMIN_ONLY_TABLES:
            with pytest.raises(PermissionDenied):
                f.table("postgresql", table_name, actor_id=who)
            with pytest.raises(PermissionDenied):
                f.fields("postgresql", table_name, actor_id=who)


def test_the_console_through_the_read_api_runs_on_the_read_only_login(demo_data):
    admin = account_id(ADMIN_EMAIL)
    assert f.sql("SELECT current_user AS login", actor_id=admin)["login"].tolist() == [console.READONLY_ROLE]
    assert console.READONLY_ROLE == "p2p_readonly"
    # The console's own rules hold through the API: its views hold exactly the allow-listed columns,
    # a secret column is not there, and the table behind the view is refused at the server.
    for table_name in ("users", "user_sessions", "events"):
        columns = f.sql(f"SELECT * FROM {table_name} LIMIT 1", actor_id=admin).columns
        assert set(columns) == set(masking.VISIBLE_COLUMNS[table_name]), table_name
    with pytest.raises(InvalidInput, match="password_hash"):
        f.sql("SELECT password_hash FROM users", actor_id=admin)
    with pytest.raises(Refused, match="Refused by the server"):
        f.sql("SELECT password_hash FROM public.users", actor_id=admin)
    with pytest.raises(Refused):
        f.sql("WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone", actor_id=admin)
    with pytest.raises(Refused):
        f.mongo_query("profiles", '[{"$out": "copied"}]', mode="pipeline", actor_id=admin)


# Writes shaped as a query: the console runs its statement in a server-side cursor, so these are the
# writes that can reach PostgreSQL through it at all (a bare UPDATE is a syntax error in a cursor).
WRITES = ["WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone",
          "WITH up AS (UPDATE users SET role = 'admin' RETURNING id) SELECT * FROM up",
          "SELECT * FROM users FOR UPDATE",
          "SELECT * FROM public.users FOR UPDATE",
          "SELECT nextval('public.events_id_seq')",
          "SELECT lo_create(0)"]


@pytest.mark.parametrize("statement", WRITES)
def test_a_write_through_the_read_api_fails_at_the_server(demo_data, monkeypatch, statement):
    """With the console's statement checker switched off (as tests/security/test_console_escapes.py
    does), the write reaches PostgreSQL and the read-only login refuses it there (#14, #18)."""
    from p2p_store.stores import pg

    admin = account_id(ADMIN_EMAIL)

    def accounts_as_stored():
        with pg.get_engine().connect() as conn:
            return conn.execute(text("SELECT id, email, role, password_hash FROM users ORDER BY id")).all()

    before = accounts_as_stored()
    with pytest.raises(Refused):  # the checker's refusal (or the server's, where the checker lets it by)
        f.sql(statement, actor_id=admin)
    monkeypatch.setattr(console, "check_sql", lambda text: text.strip())
    with pytest.raises(Refused) as refused:
        f.sql(statement, actor_id=admin)
    said = str(refused.value)
    assert re.search(r"read-only transaction|permission denied|Writable CTEs", said, re.IGNORECASE), said
    assert re.search(r"Refused by the server|the console is read-only:|Writable CTEs", said), said
    assert accounts_as_stored() == before
    assert len(before) == 3


def test_the_event_log_through_the_read_api_is_the_audit_pages(demo_data):
    from p2p_store import audit

    admin = account_id(ADMIN_EMAIL)
    log = f.events(actor_id=admin, limit=1000)
    assert len(log) >= 1 and "reseed" in set(log["action"])  # the demo load is an event
    assert list(log["id"]) == sorted(log["id"], reverse=True)
    assert list(log["id"]) == [e["id"] for e in audit.list_events(audit.EventFilter(), limit=audit.MAX_PAGE_SIZE)]
    reseeds = f.events(actor_id=admin, action="reseed")
    assert len(reseeds) >= 1 and set(reseeds["action"]) == {"reseed"}
    assert len(f.events(actor_id=admin, limit=1)) == 1
    with pytest.raises(InvalidInput):
        f.events(actor_id=admin, action="not an action")
    with pytest.raises(PermissionDenied):
        f.events(actor_id=account_id(MEMBER_EMAIL))


def test_the_console_through_the_read_api_is_for_admins_only(demo_data):
    member = account_id(MEMBER_EMAIL)
    with pytest.raises(PermissionDenied):
        f.sql("SELECT 1 AS one", actor_id=member)
    with pytest.raises(PermissionDenied):
        f.mongo_query("use_cases", "{}", actor_id=member)


def test_the_read_api_answers_with_the_pages_filters(demo_data):
    cases = f.use_cases(industry="Petrochemicals")
    assert len(cases) == 2 and set(cases["industry"]) == {"Petrochemicals"}
    assert {"lon", "lat"} <= set(cases.columns) and cases["lon"].between(34, 56.2).all()
    assert len(f.use_cases()) == 17
    assert len(f.posts(limit=100)) == 4 and len(f.posts(limit=1)) == 1
    assert next(iter(f.posts(sort="views", limit=100)["pinned"]))  # pinned first, as on the page
    solved = f.posts(solved=True, limit=100)
    assert len(solved) >= 1 and solved["solved"].all()
    replies = f.thread(solved.id.iloc[0])
    assert replies.attrs["post"]["title"] and replies["depth"].max() >= 2 and replies["is_best_answer"].sum() == 1
    members = f.accounts()
    assert sorted(members["full_name"]) == ["Ahmed Al-Faisal", "Mohammed Rashid", "Sara Hassan"]
    assert set(f.accounts(industry="Plastics & Polymers")["full_name"]) == {"Mohammed Rashid"}
    assert f.activity_by_month()["count"].sum() == 4 + len(f.table("mongodb", "forum_replies", limit=1000))
    with pytest.raises(InvalidInput):
        f.use_cases(industry="Not an industry")


def test_every_public_function_of_the_read_api_has_a_docstring_with_an_example():
    for name in f.__all__:
        member = getattr(f, name)
        if inspect.isfunction(member):
            assert member.__doc__ and ">>> " in member.__doc__, name


@pytest.mark.parametrize("page, params", [("app_pages/forum.py", {"category": "AI"}),
                                          ("app_pages/map.py", {"industry": "Petrochemicals"})])
def test_the_pages_offer_open_as_notebook(demo_data, page, params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.button(key=f"demo_{MEMBER_EMAIL}").click().run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(page).run()
    assert not at.exception
    buttons = [b for b in at.get("download_button") if b.proto.label == "Open as notebook"]
    assert len(buttons) == 1 and buttons[0].proto.help.startswith("A Jupyter notebook")


def test_a_generated_notebook_of_an_admin_only_table_carries_the_admins_id_and_no_other_does():
    view = {"store": "postgresql", "sort": None, "descending": False, "filters": (), "limit": 5, "actor_id": "ab-12"}
    for name in masking.ADMIN_ONLY_TABLES:
        assert "actor_id='ab-12'" in notebook_export.build("explorer", name=name, **view).cells[0].source
    assert "actor_id" not in notebook_export.build("explorer", name="users", **view).cells[0].source
