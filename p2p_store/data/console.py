"""The read-only query console for admins (issue 9), read-only in fact (#14).

PostgreSQL: one SELECT statement, run on the console's own login (``p2p_readonly`` on the embedded
server, ``DATABASE_READONLY_URL`` on an external one) through its own small engine. That login may
SELECT only the views of schema ``console`` (the app tables without their secret columns), and the
role itself carries ``default_transaction_read_only``, ``statement_timeout`` and ``work_mem``: the
server refuses a write, a secret, a file, a role change or another client's connection whatever SQL
reaches it (docs/architecture.md, "Privilege model"). Without that login the console is off, with a
message saying how to create it; there is no weaker fallback. The statement checker below is only a
first line that says clearly what was refused; nothing depends on it.

MongoDB: a filter (JSON object) or an aggregation pipeline (JSON array) parsed with ``json.loads``
(never eval), run on the read-only user (``MONGODB_READONLY_URL``), refused if it writes, runs
JavaScript, or has a stage or operator that can run unbounded (change streams, unbounded lookups,
``$densify``/``$fill``, ``$setWindowFields``, ``$range``, regexes that can backtrack), with
``maxTimeMS``. Both consoles cap the rows *and the bytes* they return.

Every refusal, syntax error and timeout is one line (a DomainError) and changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
import psycopg
import pymongo
import pymongo.errors
from bson import ObjectId
from psycopg import sql as pgsql
from sqlalchemy import Engine, create_engine

from p2p_store.access import require_admin
from p2p_store.data import explorer
from p2p_store.errors import DomainError, InvalidInput, Refused, StoreUnavailable
from p2p_store.settings import get_settings
from p2p_store.stores import local, mongo, pg

log = logging.getLogger(__name__)

CONSOLE_TIMEOUT_S = 3  # seconds a console query may run
ROW_CAP = 1_000  # rows or documents a console query returns
MAX_RESULT_BYTES = 4_000_000  # bytes of results a console query returns (about: text of the cells)
MAX_QUERY_CHARS = 20_000
READONLY_ROLE = local.PG_READONLY
LOOKUP_OUTER_LIMIT = 1_000  # a $lookup / $graphLookup needs a $limit at most this before it
LOOKUP_INNER_LIMIT = 100  # ... and at most this many matches per document
GRAPH_MAX_DEPTH = 2
MAX_REGEX_CHARS = 100

# Functions a read-only transaction still lets run but that change something outside it, or run SQL
# given as text (which would escape these checks). The read-only role and transaction catch the rest.
DENIED_FUNCTIONS = frozenset({
    "set_config", "nextval", "setval", "pg_terminate_backend", "pg_cancel_backend", "pg_notify",
    "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_read_file",
    "pg_read_binary_file", "pg_stat_file", "pg_file_write", "pg_stat_reset", "pg_import_system_collations",
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml",
    "cursor_to_xmlschema", "txid_current", "pg_current_xact_id", "pg_log_backend_memory_contexts",
})
DENIED_PREFIXES = ("pg_advisory", "pg_try_advisory", "lo_", "dblink", "pg_create_", "pg_drop_",
                   "pg_replication_", "pg_logical_", "pg_ls_", "pg_stat_reset", "pg_backup_")
_READ_STARTS = frozenset({"select", "with", "values", "table"})
_WRITE_WORDS = frozenset({"insert", "update", "delete", "merge", "truncate"})
_OTHER_STATEMENTS = frozenset({  # statements that are not queries: refused rather than "syntax error"
    "insert", "update", "delete", "merge", "truncate", "create", "drop", "alter", "grant", "revoke", "copy",
    "set", "reset", "begin", "start", "commit", "rollback", "savepoint", "release", "end", "abort", "vacuum",
    "analyze", "analyse", "explain", "do", "call", "lock", "listen", "unlisten", "notify", "prepare", "execute",
    "deallocate", "declare", "fetch", "move", "close", "discard", "comment", "security", "refresh", "reindex",
    "cluster", "import", "load", "checkpoint", "reassign", "show",
})
# MongoDB: stages and operators that write or run JavaScript on the server...
DENIED_MONGO_KEYS = frozenset({"$out", "$merge", "$where", "$function", "$accumulator"})
# ... and those that can run without bound (forever, or far past maxTimeMS on the embedded server).
UNBOUNDED_MONGO_KEYS = frozenset({"$changeStream", "$changeStreamSplitLargeEvent", "$densify", "$fill",
                                  "$setWindowFields", "$range", "$currentOp", "$listSessions",
                                  "$listLocalSessions", "$collStats", "$indexStats", "$planCacheStats",
                                  "$listSearchIndexes", "$search", "$searchMeta", "$vectorSearch"})
_REGEX_KEYS = frozenset({"$regex", "$regexMatch", "$regexFind", "$regexFindAll", "$regularExpression"})
MONGO_MODES = ("filter", "pipeline")


@dataclass(frozen=True)
class QueryResult:
    """A console result: rows (flattened, masked), their columns, and whether the cap cut it short."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    elapsed_ms: float
    documents: list[dict[str, Any]] = field(default_factory=list)  # MongoDB: the raw shape (masked)
    note: str = ""


@dataclass(frozen=True)
class Example:
    """A saved example query for the demo data."""

    title: str
    store: str  # "postgresql" | "mongodb"
    text: str
    collection: str | None = None
    mode: str = "sql"  # "sql" | "filter" | "pipeline"


EXAMPLES: tuple[Example, ...] = (
    Example("Accounts by role", "postgresql",
            "SELECT role, count(*) AS accounts\nFROM users\nGROUP BY role\nORDER BY accounts DESC"),
    Example("Newest accounts", "postgresql",
            "SELECT full_name, email, company, role, created_at\nFROM users\nORDER BY created_at DESC\nLIMIT 20"),
    Example("Sign-ins per account", "postgresql",
            "SELECT u.email, count(s.id) AS sessions, max(s.created_at) AS last_sign_in\n"
            "FROM users u LEFT JOIN user_sessions s ON s.user_id = u.id\nGROUP BY u.email\n"
            "ORDER BY sessions DESC, u.email"),
    Example("Event log (audit)", "postgresql",
            "SELECT at, actor_email, action, object_email, before, after, mongo_outcome\n"
            "FROM events\nORDER BY id DESC\nLIMIT 50"),
    Example("Posts per category", "mongodb",
            '[{"$group": {"_id": "$category", "posts": {"$sum": 1}}},\n {"$sort": {"posts": -1}}]',
            "forum_posts", "pipeline"),
    Example("Replies per author", "mongodb",
            '[{"$group": {"_id": "$author_id", "replies": {"$sum": 1}}},\n {"$sort": {"replies": -1}},\n'
            ' {"$limit": 20},\n {"$lookup": {"from": "profiles", "localField": "_id", "foreignField": "_id",'
            ' "as": "author"}},\n {"$unwind": {"path": "$author", "preserveNullAndEmptyArrays": true}},\n'
            ' {"$project": {"_id": 0, "author": "$author.full_name", "replies": 1}}]',
            "forum_replies", "pipeline"),
    Example("Use cases per region", "mongodb",
            '[{"$group": {"_id": "$region", "use_cases": {"$sum": 1}}},\n {"$sort": {"use_cases": -1}}]',
            "use_cases", "pipeline"),
    Example("Open posts", "mongodb", '{"status": "open"}', "forum_posts", "filter"),
    Example("Detailed use cases", "mongodb", '{"kind": "detailed"}', "use_cases", "filter"),
)


# ------------------------------------------------------------------ who may use it


def _require_admin(actor_id: object) -> None:
    with pg.new_session() as session:
        require_admin(session, actor_id)


# ------------------------------------------------------------------ the read-only logins


@dataclass(frozen=True)
class RoleStatus:
    """Whether the console runs (on its read-only login), and a line saying so or how to enable it."""

    active: bool
    message: str


CONSOLE_OFF_SQL = ("The SQL console is off: no read-only login is configured for this PostgreSQL server. "
                   "Create one with the SQL in README.md (\"Read-only console logins\") and set "
                   "DATABASE_READONLY_URL.")
CONSOLE_OFF_MONGO = ("The MongoDB console is off: no read-only user is configured for this MongoDB server. "
                     "Create one with the commands in README.md (\"Read-only console logins\") and set "
                     "MONGODB_READONLY_URL.")

_engine_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_clients: dict[str, pymongo.MongoClient] = {}


def _readonly_engine() -> Engine | None:
    """The console's own small engine on the read-only login (None: not configured)."""
    url = local.postgres_readonly_url(get_settings())
    if url is None:
        return None
    with _engine_lock:
        engine = _engines.get(url)
        if engine is None:
            options = (f"-c statement_timeout={CONSOLE_TIMEOUT_S}s -c default_transaction_read_only=on "
                       f"-c search_path={local.CONSOLE_SCHEMA} -c work_mem=4MB")
            engine = create_engine(url, pool_size=2, max_overflow=3, pool_pre_ping=True, pool_timeout=5,
                                   pool_recycle=600,
                                   connect_args={"connect_timeout": 5, "application_name": "p2p-console",
                                                 "options": options})
            _engines[url] = engine
        return engine


def _readonly_db() -> Any | None:
    """The app database through the console's read-only MongoDB user (None: not configured)."""
    settings = get_settings()
    url = local.mongodb_readonly_url(settings)
    if url is None:
        return None
    with _engine_lock:
        client = _clients.get(url)
        if client is None:
            client = pymongo.MongoClient(url, maxPoolSize=4, tz_aware=True, appname="p2p-console",
                                         serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
                                         socketTimeoutMS=(CONSOLE_TIMEOUT_S + 5) * 1000)
            _clients[url] = client
    return client[mongo.get_db().name]  # the live database, blue or green (#19); the run's own if pinned


def dispose() -> None:
    """Close the console's pools (tests, a changed URL)."""
    with _engine_lock:
        for engine in _engines.values():
            engine.dispose()
        for client in _clients.values():
            client.close()
        _engines.clear()
        _clients.clear()


def readonly_role_status() -> RoleStatus:
    """Whether the SQL console is on (its read-only login is configured), in one line."""
    if local.postgres_readonly_url(get_settings()) is None:
        return RoleStatus(False, CONSOLE_OFF_SQL)
    return RoleStatus(True, f"Queries run on the read-only login (SELECT on views of the app tables without "
                            f"their secret columns; the server refuses writes), stopped after "
                            f"{CONSOLE_TIMEOUT_S} s, at most {ROW_CAP:,} rows and "
                            f"{MAX_RESULT_BYTES // 1_000_000} MB.")


def mongo_console_status() -> RoleStatus:
    """Whether the MongoDB console is on (its read-only user is configured), in one line."""
    if local.mongodb_readonly_url(get_settings()) is None:
        return RoleStatus(False, CONSOLE_OFF_MONGO)
    return RoleStatus(True, "Queries run as a read-only MongoDB user.")


# ------------------------------------------------------------------ SQL checks


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\n\r\f\v]+)
  | (?P<line_comment>--[^\n\r]*)
  | (?P<block_comment>/\*)
  | (?P<unicode>[uU]&["'])
  | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_\u0080-\U0010ffff][A-Za-z_0-9\u0080-\U0010ffff]*)?\$)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z_0-9$\u0080-\U0010ffff]*)
  | (?P<param>\$\d+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)


def _sql_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens of a statement: words lower-cased, quoted identifiers unquoted,
    comments and string literals dropped. Raises InvalidInput on an unterminated literal."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated string or quoted identifier
            raise InvalidInput("Syntax error: a quote or comment is not closed.")
        kind = m.lastgroup
        if kind == "block_comment":
            depth, i = 1, m.end()
            while depth and i < len(text):
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            if depth:
                raise InvalidInput("Syntax error: a /* comment is not closed.")
            pos = i
            continue
        if kind == "dollar":
            end = text.find(m.group(0), m.end())
            if end < 0:
                raise InvalidInput("Syntax error: a $$ string is not closed.")
            pos = end + len(m.group(0))
            continue
        if kind == "unicode":
            raise Refused("Unicode-escaped names and strings (U&\"…\") are not accepted here; write them plainly.")
        if kind == "word":
            tokens.append(("word", m.group(0).lower()))
        elif kind == "quoted":
            tokens.append(("name", m.group(0)[1:-1].replace('""', '"').lower()))
        elif kind == "punct":
            tokens.append(("punct", m.group(0)))
        elif kind == "param":
            raise InvalidInput("Parameters like $1 are not supported; write the value in the query.")
        pos = m.end()
    return tokens


def check_sql(text: object) -> str:
    """The statement if it may run in the console; otherwise InvalidInput / Refused with one line."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Type a SELECT query first.")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"The query is too long (at most {MAX_QUERY_CHARS:,} characters).")
    if "\x00" in text:
        raise InvalidInput("The query contains a NUL character.")
    statement = text.strip()
    tokens = _sql_tokens(statement)
    while tokens and tokens[-1] == ("punct", ";"):
        tokens.pop()
        statement = statement.rstrip().removesuffix(";").rstrip()
    if ("punct", ";") in tokens:
        raise Refused("One statement at a time: the console runs a single SELECT (remove the ';'). "
                      "Nothing was run.")
    words = [(i, v) for i, (k, v) in enumerate(tokens) if k == "word"]
    if not words:
        raise InvalidInput("Type a SELECT query first.")
    first = words[0][1]
    if first not in _READ_STARTS and first not in _OTHER_STATEMENTS:
        raise InvalidInput(f"Syntax error at or near {words[0][1][:30]!r}: a query starts with SELECT, WITH, "
                           "VALUES or TABLE.")
    if first not in _READ_STARTS:
        raise Refused(f"Only read queries run here (SELECT, WITH … SELECT, VALUES, TABLE); "
                      f"{first.upper()} statements are refused and nothing was changed.")
    for n, (i, word) in enumerate(words):
        following = words[n + 1][1] if n + 1 < len(words) else ""
        if word == "for" and following in ("update", "share", "no", "key"):
            raise Refused("Row locks (SELECT … FOR UPDATE / FOR SHARE) are refused: the console is read-only. "
                          "Nothing was changed.")
        if word in _WRITE_WORDS:
            raise Refused(f"{word.upper()} is refused: the console is read-only (this includes writable CTEs). "
                          "Nothing was changed.")
        if word == "into":
            raise Refused("SELECT … INTO creates a table and is refused: the console is read-only. "
                          "Nothing was changed.")
    for i, (kind, value) in enumerate(tokens[:-1]):
        if kind in ("word", "name") and tokens[i + 1] == ("punct", "("):
            if value in DENIED_FUNCTIONS or value.startswith(DENIED_PREFIXES):
                raise Refused(f"{value}() changes something outside the query (or runs SQL from text) and "
                              "is refused in the read-only console. Nothing was changed.")
    return statement


# ------------------------------------------------------------------ running SQL


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "diag", None) and exc.diag.message_primary or exc) or type(exc).__name__
    return explorer.mask_text(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


def _sql_error(exc: psycopg.Error) -> DomainError:
    line = _first_line(exc)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return Refused(f"The query ran longer than {CONSOLE_TIMEOUT_S} s and was stopped; nothing was changed.")
    if exc.sqlstate and exc.sqlstate.startswith("53"):  # insufficient resources: the role's bounds
        return Refused(f"Refused by the server: {line} (the console's memory and disk bounds). "
                       "Nothing was changed.")
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return Refused(f"Refused, the console is read-only: {line}. Nothing was changed.")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return Refused(f"Refused by the server: {line} (the console's read-only login may only read the views "
                       "of the app tables, without their secret columns). Nothing was changed.")
    if isinstance(exc, psycopg.errors.FeatureNotSupported) and "data-modifying" in line:
        return Refused("Writable CTEs (WITH … DELETE/UPDATE/INSERT) are refused: the console is read-only. "
                       "Nothing was changed.")
    if isinstance(exc, psycopg.errors.SyntaxError):
        return InvalidInput(f"Syntax error: {line}.")
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled):
        return StoreUnavailable(f"PostgreSQL did not answer ({line}); nothing was changed.")
    return InvalidInput(f"PostgreSQL could not run the query: {line}.")


def _cell(value: Any) -> Any:
    """A result cell as a table can show it."""
    if value is None or isinstance(value, (str, int, float, bool, datetime)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(explorer.to_jsonable(value), ensure_ascii=False)
    return str(explorer.to_jsonable(value))


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _size(value: Any) -> int:
    """About the bytes a cell takes in memory and on the page."""
    return len(value) if isinstance(value, str) else 16


def run_sql(*, actor_id: object, sql: object) -> QueryResult:
    """Run one read-only SELECT for an admin on the console's read-only login: at most ROW_CAP rows
    and MAX_RESULT_BYTES bytes.

    Raises PermissionDenied (not an admin), Refused (the console is off, a write, a secret, a side
    effect, a timeout), InvalidInput (syntax, unknown table...) or StoreUnavailable. Always rolled back."""
    statement = check_sql(sql)
    _require_admin(actor_id)
    engine = _readonly_engine()
    if engine is None:
        raise Refused(CONSOLE_OFF_SQL)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    truncated = False
    size = 0
    try:
        conn_cm = engine.connect()
        conn = conn_cm.__enter__()
    except Exception as exc:  # noqa: BLE001 - the login is missing or the server is down: one line
        raise StoreUnavailable(f"PostgreSQL did not accept the console's read-only login ({_first_line(exc)}).") from None
    try:
        raw = conn.connection.driver_connection
        try:
            raw.rollback()  # start from a clean slate: the next statement opens our transaction
            raw.execute("SET TRANSACTION READ ONLY")
            raw.execute(pgsql.SQL("SET LOCAL statement_timeout = {}").format(
                pgsql.Literal(f"{CONSOLE_TIMEOUT_S}s")))
            with raw.cursor(name="explorer_console") as cur:
                cur.execute(statement)
                names = _unique_names([d.name for d in cur.description or []])
                while not truncated:
                    batch = cur.fetchmany(10)  # small batches: the byte cap applies as rows arrive
                    if not batch:
                        break
                    for record in batch:
                        if len(rows) >= ROW_CAP or size > MAX_RESULT_BYTES:
                            truncated = True
                            break
                        row = {n: _cell(v) for n, v in zip(names, record, strict=False)}
                        size += sum(_size(v) for v in row.values())
                        rows.append(row)
        except psycopg.Error as exc:
            raise _sql_error(exc) from None
        finally:
            _reset_connection(conn, raw)
    finally:
        conn_cm.__exit__(None, None, None)
    note = f"Cut at {MAX_RESULT_BYTES // 1_000_000} MB of results." if size > MAX_RESULT_BYTES else ""
    return QueryResult(names, rows, truncated, round((time.perf_counter() - started) * 1000, 1), note=note)


def _reset_connection(conn: Any, raw: psycopg.Connection) -> None:
    """Roll back; a connection in an unknown state is never handed back to the pool."""
    try:
        raw.rollback()
    except psycopg.Error:
        conn.invalidate()


# ------------------------------------------------------------------ MongoDB


def _extended_json(pairs: list[tuple[str, Any]]) -> Any:
    """``{"$date": "…"}`` and ``{"$oid": "…"}`` (MongoDB extended JSON) as dates and ids; nothing else."""
    if len(pairs) == 1:
        key, value = pairs[0]
        if key == "$date" and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput(f"{value[:40]!r} is not a date (use 2025-03-31T00:00:00Z).") from None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if key == "$oid" and isinstance(value, str):
            if not ObjectId.is_valid(value):
                raise InvalidInput(f"{value[:40]!r} is not an object id.")
            return ObjectId(value)
    return dict(pairs)


def parse_mongo_json(text: object, *, mode: str) -> Any:
    """The filter (object) or pipeline (array of stage objects) typed in the box."""
    if mode not in MONGO_MODES:
        raise InvalidInput("Pick filter or pipeline.")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Type a JSON filter or pipeline first.")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"The query is too long (at most {MAX_QUERY_CHARS:,} characters).")
    try:
        value = json.loads(text, object_pairs_hook=_extended_json)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise InvalidInput("The JSON is nested too deeply.") from None
    if mode == "filter" and not isinstance(value, dict):
        raise InvalidInput('A filter is a JSON object, e.g. {"status": "open"}.')
    if mode == "pipeline":
        if not isinstance(value, list) or not all(isinstance(s, dict) and len(s) == 1 for s in value):
            raise InvalidInput('A pipeline is a JSON array of stages, e.g. [{"$match": {"status": "open"}}].')
    check_mongo(value, pipeline=(mode == "pipeline"))
    return value


# A regex the server runs must not be able to backtrack: no groups, alternation, back-references,
# lookarounds or repetition braces; a few quantifiers at most (the embedded server runs regexes in
# Python, where maxTimeMS cannot stop them).
_REGEX_RISKY = re.compile(r"[()|{}]|\\[1-9]|\\[kgpPN]")
_MAX_REGEX_QUANTIFIERS = 3


def _check_regex(pattern: Any) -> None:
    if isinstance(pattern, list):
        pattern = pattern[1] if len(pattern) > 1 else None
    if isinstance(pattern, dict):
        pattern = pattern.get("regex", pattern.get("pattern"))
    if not isinstance(pattern, str):
        raise Refused("Regular expressions are accepted as a plain string pattern only. Nothing was run.")
    quantifiers = len(re.findall(r"(?<!\\)[*+?]", pattern))
    if len(pattern) > MAX_REGEX_CHARS or _REGEX_RISKY.search(pattern) or quantifiers > _MAX_REGEX_QUANTIFIERS:
        raise Refused(f"This regular expression could run without bound on the server: use at most "
                      f"{MAX_REGEX_CHARS} characters, {_MAX_REGEX_QUANTIFIERS} quantifiers, and no groups, "
                      "alternation, braces or back-references. Nothing was run.")


def _limit_before(stages: list[Any], index: int, bound: int) -> bool:
    """A ``$limit`` of at most ``bound`` earlier in the pipeline (so what flows on is bounded)."""
    return any(isinstance(s, dict) and isinstance(s.get("$limit"), int) and not isinstance(s.get("$limit"), bool)
               and 0 < s["$limit"] <= bound for s in stages[:index])


def _check_pipeline(stages: Any, _depth: int) -> None:
    """Stage rules for a pipeline (top level, and those inside $lookup/$facet/$unionWith)."""
    if not isinstance(stages, list):
        return
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or len(stage) != 1:
            continue
        name, spec = next(iter(stage.items()))
        if name == "$lookup":
            inner = spec.get("pipeline") if isinstance(spec, dict) else None
            one_match = isinstance(spec, dict) and spec.get("foreignField") == "_id" and inner is None
            inner_limited = isinstance(inner, list) and _limit_before(inner, len(inner), LOOKUP_INNER_LIMIT)
            if not _limit_before(stages, i, LOOKUP_OUTER_LIMIT) or not (one_match or inner_limited):
                raise Refused(f"$lookup without bounds can multiply documents past every limit: put a "
                              f"$limit of at most {LOOKUP_OUTER_LIMIT:,} before it, and join on foreignField "
                              f"\"_id\" or end its pipeline with a $limit of at most {LOOKUP_INNER_LIMIT}. "
                              "Nothing was run.")
        if name == "$graphLookup":
            depth = spec.get("maxDepth") if isinstance(spec, dict) else None
            if (not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= GRAPH_MAX_DEPTH
                    or not _limit_before(stages, i, LOOKUP_INNER_LIMIT)):
                raise Refused(f"$graphLookup needs maxDepth of at most {GRAPH_MAX_DEPTH} and a $limit of at most "
                              f"{LOOKUP_INNER_LIMIT} before it. Nothing was run.")


def check_mongo(value: Any, _depth: int = 0, *, pipeline: bool = False) -> None:
    """Refuse, at any depth: writes (``$out``, ``$merge``), server-side JavaScript, stages and
    operators that can run unbounded, regexes that can backtrack, and unbounded lookups."""
    if _depth > 100:
        raise InvalidInput("The JSON is nested too deeply.")
    if isinstance(value, dict):
        for key, item in value.items():
            name = key.strip() if isinstance(key, str) else key
            if name in DENIED_MONGO_KEYS:
                writes = name in ("$out", "$merge")
                what = "writes to a collection" if writes else "runs JavaScript on the server"
                raise Refused(f"{name} is refused: it {what} and the console is read-only. "
                              "Nothing was changed.")
            if name in UNBOUNDED_MONGO_KEYS:
                raise Refused(f"{name} is refused: it can run without bound (past the console's "
                              f"{CONSOLE_TIMEOUT_S} s). Nothing was run.")
            if name in _REGEX_KEYS:
                _check_regex(item)
            check_mongo(item, _depth + 1)
            if name in ("$lookup", "$facet", "$unionWith") and isinstance(item, dict):
                for sub in ([item.get("pipeline")] if name != "$facet" else list(item.values())):
                    _check_pipeline(sub, _depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_mongo(item, _depth + 1)
    if pipeline:
        _check_pipeline(value, _depth)


def _mongo_error(exc: pymongo.errors.PyMongoError) -> DomainError:
    if isinstance(exc, pymongo.errors.ExecutionTimeout):
        return Refused(f"The query ran longer than {CONSOLE_TIMEOUT_S} s and was stopped; nothing was changed.")
    if isinstance(exc, pymongo.errors.OperationFailure):
        message = str(exc.details.get("errmsg") if exc.details else exc).splitlines()[0]
        if exc.code == 13:
            return Refused(f"Refused by the server: {message[:300]} (the console's MongoDB user may only read). "
                           "Nothing was changed.")
        return InvalidInput(f"MongoDB could not run the query: {message[:300]}.")
    return StoreUnavailable(f"MongoDB did not answer ({type(exc).__name__}); nothing was changed.")


def run_mongo(*, actor_id: object, collection: object, mode: str, text: object) -> QueryResult:
    """Run a read-only filter or pipeline against one collection of the app database for an admin, as
    the console's read-only user: at most ROW_CAP documents and MAX_RESULT_BYTES bytes, stopped after
    CONSOLE_TIMEOUT_S seconds."""
    query = parse_mongo_json(text, mode=mode)
    if not isinstance(collection, str) or collection not in explorer.list_collections():
        raise InvalidInput("Pick a collection from the list.")
    _require_admin(actor_id)
    db = _readonly_db()
    if db is None:
        raise Refused(CONSOLE_OFF_MONGO)
    started = time.perf_counter()
    coll = db[collection]
    docs: list[dict[str, Any]] = []
    size = 0
    truncated = False
    try:
        if mode == "filter":
            cursor = coll.find(query, limit=ROW_CAP + 1, max_time_ms=CONSOLE_TIMEOUT_S * 1000, batch_size=100)
        else:
            cursor = coll.aggregate(query + [{"$limit": ROW_CAP + 1}], maxTimeMS=CONSOLE_TIMEOUT_S * 1000,
                                    batchSize=100)
        with cursor:
            for doc in cursor:
                if len(docs) >= ROW_CAP or size > MAX_RESULT_BYTES:
                    truncated = True
                    break
                size += len(bson.encode(doc))
                docs.append(doc)
    except pymongo.errors.PyMongoError as exc:
        raise _mongo_error(exc) from None
    masked = [explorer.mask_row(d) for d in docs]
    rows = [explorer.mask_row(explorer.flatten_row(d)) for d in masked]
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    note = f"Cut at {MAX_RESULT_BYTES // 1_000_000} MB of results." if size > MAX_RESULT_BYTES else ""
    return QueryResult(list(columns), rows, truncated, round((time.perf_counter() - started) * 1000, 1),
                       documents=[explorer.to_jsonable(d) for d in masked], note=note)
