"""The read-only query console for admins (issue 9), as Datasette and Metabase offer it.

PostgreSQL: one SELECT statement, run in a ``READ ONLY`` transaction with ``SET LOCAL
statement_timeout`` and a row cap (a server-side cursor, so a huge result is never pulled into
memory), under the NOLOGIN role ``p2p_readonly`` where the server lets us create it: that role may
SELECT the app tables' columns except the secret ones, and nothing else. The transaction is always
rolled back. The statement is also checked before it is sent, for the few things a read-only
transaction allows but that still change something (session advisory locks, ``set_config``,
``pg_terminate_backend``...), and to say clearly what was refused.

MongoDB: a filter (JSON object) or an aggregation pipeline (JSON array) parsed with ``json.loads``
(never eval), refused if ``$out``, ``$merge`` or server-side JavaScript appears anywhere in it, run
with ``maxTimeMS`` and a result cap.

Every refusal, syntax error and timeout is one line (a DomainError) and changes nothing. Results
are masked by column name (``explorer.mask_row``) and by the shape of stored secrets.
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

import psycopg
import pymongo.errors
from bson import ObjectId
from psycopg import sql as pgsql

from p2p_store.access import require_admin
from p2p_store.data import explorer
from p2p_store.errors import DomainError, InvalidInput, Refused, StoreUnavailable
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Base

log = logging.getLogger(__name__)

CONSOLE_TIMEOUT_S = 3  # seconds a console query may run
ROW_CAP = 1_000  # rows or documents a console query returns
MAX_QUERY_CHARS = 20_000
READONLY_ROLE = "p2p_readonly"
_ROLE_LOCK_KEY = 424_243  # pg_advisory_xact_lock key while (re)granting the role (reseed uses 424242)

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
    "cluster", "import", "load", "checkpoint", "reassign", "show", "import",
})
# MongoDB: stages and operators that write or run JavaScript on the server.
DENIED_MONGO_KEYS = frozenset({"$out", "$merge", "$where", "$function", "$accumulator"})
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


# ------------------------------------------------------------------ the read-only role


@dataclass(frozen=True)
class RoleStatus:
    """Whether console queries run under the read-only role, and a line saying so."""

    active: bool
    message: str


_role_lock = threading.Lock()
_role_status: RoleStatus | None = None


def readonly_role_status() -> RoleStatus:
    """Create (once per process) the NOLOGIN role ``p2p_readonly`` that may only SELECT the app
    tables' non-secret columns; if the server does not allow it, say so (queries then run in a
    read-only transaction only)."""
    global _role_status
    with _role_lock:
        if _role_status is None:
            _role_status = _ensure_readonly_role()
        return _role_status


def _ensure_readonly_role() -> RoleStatus:
    role = pgsql.Identifier(READONLY_ROLE)
    try:
        with pg.get_engine().connect() as conn:
            raw = conn.connection.driver_connection
            raw.rollback()
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (_ROLE_LOCK_KEY,))
                exists = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READONLY_ROLE,)).fetchone()
                if not exists:
                    raw.execute(pgsql.SQL("CREATE ROLE {} NOLOGIN").format(role))
                for table in Base.metadata.sorted_tables:
                    name = pgsql.Identifier(table.name)
                    raw.execute(pgsql.SQL("REVOKE ALL ON {} FROM {}").format(name, role))
                    columns = [pgsql.Identifier(c.name) for c in table.columns if not explorer.is_secret(c.name)]
                    raw.execute(pgsql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                        pgsql.SQL(", ").join(columns), name, role))
                member = raw.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (READONLY_ROLE,)).fetchone()
                if not (member and member[0]):
                    raw.execute(pgsql.SQL("GRANT {} TO CURRENT_USER").format(role))
            raw.rollback()
    except psycopg.Error as exc:
        reason = _first_line(exc)
        log.warning("read-only console role not available: %s", reason)
        return RoleStatus(False, f"The read-only role {READONLY_ROLE} could not be set up ({reason}); "
                                 "queries run in a read-only transaction only.")
    return RoleStatus(True, f"Queries run as the read-only role {READONLY_ROLE} (SELECT on the app tables, "
                            f"secret columns excluded) in a read-only transaction, stopped after "
                            f"{CONSOLE_TIMEOUT_S} s, at most {ROW_CAP:,} rows.")


# ------------------------------------------------------------------ SQL checks


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<unicode>[uU]&["'])
  | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z_0-9$\u0080-\uffff]*)
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
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return Refused(f"Refused, the console is read-only: {line}. Nothing was changed.")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return Refused(f"Refused: {line} (the console's read-only role may read the app tables' columns, "
                       "except password_hash and token_hash). Nothing was changed.")
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


def run_sql(*, actor_id: object, sql: object) -> QueryResult:
    """Run one read-only SELECT for an admin and return at most ROW_CAP rows, secrets masked.

    Raises PermissionDenied (not an admin), InvalidInput (syntax, unknown table...), Refused (a write,
    a side effect, a timeout) or StoreUnavailable. The transaction is always rolled back."""
    statement = check_sql(sql)
    _require_admin(actor_id)
    role = readonly_role_status()
    started = time.perf_counter()
    with pg.get_engine().connect() as conn:
        raw = conn.connection.driver_connection
        try:
            raw.rollback()  # start from a clean slate: the next statement opens our transaction
            raw.execute("SET TRANSACTION READ ONLY")
            raw.execute(pgsql.SQL("SET LOCAL statement_timeout = {}").format(
                pgsql.Literal(f"{CONSOLE_TIMEOUT_S}s")))
            if role.active:
                raw.execute(pgsql.SQL("SET LOCAL ROLE {}").format(pgsql.Identifier(READONLY_ROLE)))
            with raw.cursor(name="explorer_console") as cur:
                cur.execute(statement)
                names = _unique_names([d.name for d in cur.description or []])
                fetched = cur.fetchmany(ROW_CAP + 1)
        except psycopg.Error as exc:
            raise _sql_error(exc) from None
        finally:
            _reset_connection(conn, raw)
    truncated = len(fetched) > ROW_CAP
    rows = [explorer.mask_row({n: _cell(v) for n, v in zip(names, r, strict=False)}) for r in fetched[:ROW_CAP]]
    note = "" if role.active else "Ran in a read-only transaction (the read-only role is not available)."
    return QueryResult(names, rows, truncated, round((time.perf_counter() - started) * 1000, 1), note=note)


def _reset_connection(conn: Any, raw: psycopg.Connection) -> None:
    """Roll back, and drop anything session-level a query could have left on the pooled connection."""
    try:
        raw.rollback()
        raw.execute("SELECT pg_advisory_unlock_all()")
        raw.commit()
    except psycopg.Error:
        conn.invalidate()  # never hand a connection in an unknown state back to the pool


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
    check_mongo(value)
    return value


def check_mongo(value: Any, _depth: int = 0) -> None:
    """Refuse ``$out``, ``$merge``, ``$where``, ``$function`` and ``$accumulator`` at any depth."""
    if _depth > 100:
        raise InvalidInput("The JSON is nested too deeply.")
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.strip() in DENIED_MONGO_KEYS:
                writes = key.strip() in ("$out", "$merge")
                what = "writes to a collection" if writes else "runs JavaScript on the server"
                raise Refused(f"{key.strip()} is refused: it {what} and the console is read-only. "
                              "Nothing was changed.")
            check_mongo(item, _depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_mongo(item, _depth + 1)


def _mongo_error(exc: pymongo.errors.PyMongoError) -> DomainError:
    if isinstance(exc, pymongo.errors.ExecutionTimeout):
        return Refused(f"The query ran longer than {CONSOLE_TIMEOUT_S} s and was stopped; nothing was changed.")
    if isinstance(exc, pymongo.errors.OperationFailure):
        message = explorer.mask_text(str(exc.details.get("errmsg") if exc.details else exc).splitlines()[0])
        return InvalidInput(f"MongoDB could not run the query: {message[:300]}.")
    return StoreUnavailable(f"MongoDB did not answer ({type(exc).__name__}); nothing was changed.")


def run_mongo(*, actor_id: object, collection: object, mode: str, text: object) -> QueryResult:
    """Run a read-only filter or pipeline against one collection of the app database for an admin:
    at most ROW_CAP documents, stopped after CONSOLE_TIMEOUT_S seconds, secrets masked."""
    query = parse_mongo_json(text, mode=mode)
    if not isinstance(collection, str) or collection not in explorer.list_collections():
        raise InvalidInput("Pick a collection from the list.")
    _require_admin(actor_id)
    started = time.perf_counter()
    coll = mongo.get_db()[collection]
    try:
        if mode == "filter":
            cursor = coll.find(query, limit=ROW_CAP + 1, max_time_ms=CONSOLE_TIMEOUT_S * 1000)
        else:
            cursor = coll.aggregate(query + [{"$limit": ROW_CAP + 1}], maxTimeMS=CONSOLE_TIMEOUT_S * 1000)
        with cursor:
            docs = [doc for _, doc in zip(range(ROW_CAP + 1), cursor, strict=False)]
    except pymongo.errors.PyMongoError as exc:
        raise _mongo_error(exc) from None
    truncated = len(docs) > ROW_CAP
    masked = [explorer.mask_row(d) for d in docs[:ROW_CAP]]
    rows = [explorer.mask_row(explorer.flatten_row(d)) for d in masked]
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    return QueryResult(list(columns), rows, truncated, round((time.perf_counter() - started) * 1000, 1),
                       documents=[explorer.to_jsonable(d) for d in masked])
