"""Data explorer: every table and collection of both stores — fields, rows, value counts, exports —
and, for admins, a read-only query console (issue 9). All queries live in p2p_store.data.explorer / .console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import open_notebook, shell
from app_pages.widgets import md
from p2p_store.data import console, explorer
from p2p_store.errors import one_line_error

me = shell.page_guard(stores=("postgresql", "mongodb"))

STORE_LABELS = {"postgresql": "PostgreSQL", "mongodb": "MongoDB"}
PAGE_SIZES = [25, 50, 100, 200]
FILTER_SLOTS = 3
NO_FIELD = "—"
BETWEEN = "between"
CHART_FIRST = ("category", "role", "kind", "region", "industry", "status", "city", "author_id", "depth")


# ------------------------------------------------------------------ cached reads (bounded)


# Counts and value counts read whole collections on the embedded MongoDB-protocol server: kept 5 min
# (and cleared by any write made in the app, shell.refresh_after_write).
@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def load_sources(store: str, actor_id: str) -> list[explorer.Source]:
    return explorer.list_sources(store=store, actor_id=actor_id)


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def load_fields(store: str, name: str, actor_id: str) -> list[explorer.FieldInfo]:
    return explorer.describe_fields(store=store, name=name, actor_id=actor_id)


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def load_sort_fields(store: str, name: str, actor_id: str) -> list[str]:
    return explorer.sort_fields(store=store, name=name, actor_id=actor_id)


@st.cache_data(ttl=30, max_entries=128, show_spinner=False)
def load_page(store: str, name: str, sort: str, descending: bool, filters: tuple, after: tuple | None,
              page_size: int, actor_id: str) -> explorer.RowPage:
    return explorer.browse_rows(store=store, name=name, sort=sort, descending=descending, filters=filters,
                                after=after, page_size=page_size, actor_id=actor_id)


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def load_value_counts(store: str, name: str, field: str, filters: tuple, top: int,
                      actor_id: str) -> list[dict[str, Any]]:
    return explorer.value_counts(store=store, name=name, field=field, filters=filters, top=top, actor_id=actor_id)


def lazy_export(fmt: str, **view: Any) -> Callable[[], bytes]:
    """The bigger export, built only when its download button is clicked."""
    def build() -> bytes:
        try:
            return explorer.export_rows(**view, limit=explorer.MAX_EXPORT_ROWS, fmt=fmt)
        except Exception as exc:  # noqa: BLE001 - the file says what went wrong; never a traceback
            return f"Export failed: {one_line_error(exc)}\n".encode()
    return build


def count_label(source: explorer.Source) -> str:
    noun = "rows" if source.store == "postgresql" else "documents"
    return f"{'~' if source.estimated else ''}{source.count:,} {noun}"


# ------------------------------------------------------------------ source picker

st.title("Data explorer")
st.caption("What both stores actually hold, read-only: pick a table or collection, see its fields, page through "
           "its rows, export them, chart a field. Password and sign-in token hashes are always masked (•••).")

pick_store, pick_source = st.columns([1, 3])
store = pick_store.segmented_control("Store", list(STORE_LABELS), format_func=STORE_LABELS.get, key="ex_store",
                                     default="mongodb", required=True)
store = store or "mongodb"
sources = shell.call(load_sources, store, me.user_id)
if not sources:
    if sources is not None:
        st.info(f"{STORE_LABELS[store]} holds no tables or collections yet.")
    st.stop()
by_name = {s.name: s for s in sources}
name = pick_source.selectbox("Table" if store == "postgresql" else "Collection", list(by_name),
                             format_func=lambda n: f"{n} · {count_label(by_name[n])}", key=f"ex_source_{store}")
source = by_name[name]
noun = "rows" if store == "postgresql" else "documents"
with st.expander(f"{count_label(source)}{' (estimated)' if source.estimated else ''} · "
                 f"{len(source.indexes)} index{'es' if len(source.indexes) != 1 else ''}", icon=":material/key:"):
    st.dataframe(pd.DataFrame([{"index": ix.name, "keys": ix.fields_label, "kind": ix.kind, "unique": ix.unique}
                               for ix in source.indexes]), hide_index=True, width="stretch")

fields = shell.call(load_fields, store, name, me.user_id) or []
by_field = {f.name: f for f in fields}

# ------------------------------------------------------------------ sort + filters (shared by rows, chart, exports)

sorts = shell.call(load_sort_fields, store, name, me.user_id) or []
view_key = f"{store}_{name}"
s1, s2, s3 = st.columns([3, 1, 1])
sort = s1.selectbox("Sort by (indexed fields)", sorts, key=f"ex_sort_{view_key}",
                    help="Only indexed fields: a page is read through the index, never by scanning.")
descending = s2.toggle("Descending", key=f"ex_desc_{view_key}")
page_size = s3.selectbox("Per page", PAGE_SIZES, index=1, key="ex_page_size")

filterable = [f.name for f in fields if f.ops]
filters: list[tuple[str, str, str]] = []
with st.expander("Filters", icon=":material/filter_alt:",
                 expanded=any(st.session_state.get(f"ex_ff{i}_{view_key}", NO_FIELD) != NO_FIELD
                              for i in range(FILTER_SLOTS))):
    for i in range(FILTER_SLOTS):
        c_field, c_op, c_value, c_to = st.columns([3, 2, 3, 3])
        field = c_field.selectbox(f"Field {i + 1}", [NO_FIELD, *filterable], key=f"ex_ff{i}_{view_key}")
        if field == NO_FIELD:
            continue
        info = by_field[field]
        ops = list(info.ops) + ([BETWEEN] if info.kind in ("number", "date") else [])
        op = c_op.selectbox("Condition", ops, key=f"ex_fo{i}_{view_key}_{field}",
                            format_func=lambda o: explorer.OP_LABELS.get(o, o))
        hint = {"date": "2025-03-31 or 2025-03-31T14:30", "number": "a number", "bool": "true / false",
                "id": "an id"}.get(info.kind, "text")
        if op == BETWEEN:
            low = c_value.text_input("From", key=f"ex_fv{i}_{view_key}_{field}", max_chars=explorer.MAX_VALUE_CHARS,
                                     placeholder=hint)
            high = c_to.text_input("To", key=f"ex_ft{i}_{view_key}_{field}", max_chars=explorer.MAX_VALUE_CHARS,
                                   placeholder=hint)
            filters += [(field, "gte", low)] if low.strip() else []
            filters += [(field, "lte", high)] if high.strip() else []
        else:
            value = c_value.text_input("Value", key=f"ex_fv{i}_{view_key}_{field}", max_chars=explorer.MAX_VALUE_CHARS,
                                       placeholder=hint)
            if value.strip():
                filters.append((field, op, value))
    st.caption("Values are typed from the field (numbers, dates, true/false, ids); “contains” matches text "
               "literally, ignoring case.")
filters_t = tuple(filters)

# keyset paging: a stack of "after" cursors, reset whenever the view changes
view = (store, name, sort, descending, filters_t, page_size)
if st.session_state.get("ex_view") != view:
    st.session_state["ex_view"] = view
    st.session_state["ex_cursors"] = [None]


def next_page(after: tuple) -> None:
    st.session_state["ex_cursors"] = [*st.session_state["ex_cursors"], after]


def previous_page() -> None:
    st.session_state["ex_cursors"] = st.session_state["ex_cursors"][:-1] or [None]


fields_tab, rows_tab, chart_tab = st.tabs(["Fields", "Rows", "Chart"], key="ex_tab", on_change="rerun",
                                          default="Rows")

# ------------------------------------------------------------------ fields

if fields_tab.open:
    with fields_tab:
        if store == "mongodb":
            st.caption(f"Fields found in a random sample of up to {explorer.SAMPLE_SIZE} documents; nested fields "
                       "use dotted paths.")
            table = pd.DataFrame([{"field": f.name, "types": f.types, "present": f.presence,
                                   "examples": " · ".join(f.examples), "sortable": f.sortable,
                                   "filter": ", ".join(explorer.OP_LABELS[o] for o in f.ops),
                                   "masked": f.masked} for f in fields])
            config = {"present": st.column_config.ProgressColumn("present", format="percent", min_value=0,
                                                                 max_value=1)}
        else:
            table = pd.DataFrame([{"column": f.name, "type": f.types, "nullable": f.nullable,
                                   "constraints": f.constraints, "references": f.references,
                                   "sortable": f.sortable, "filter": ", ".join(explorer.OP_LABELS[o] for o in f.ops),
                                   "masked": f.masked} for f in fields])
            config = {}
        st.dataframe(table, hide_index=True, width="stretch", column_config=config)

# ------------------------------------------------------------------ rows

if rows_tab.open:
    with rows_tab:
        cursors = st.session_state["ex_cursors"]
        page = shell.call(load_page, store, name, sort, descending, filters_t, cursors[-1], page_size, me.user_id) if sort else None
        if page is not None and not page.rows:
            st.info(f"No {noun} match these filters." if filters_t or len(cursors) > 1 else f"No {noun} yet.")
        elif page is not None:
            first = (len(cursors) - 1) * page.page_size + 1
            table = pd.DataFrame([explorer.flatten_row(r) for r in page.rows])
            event = st.dataframe(table, hide_index=True, width="stretch", key=f"ex_table_{view_key}",
                                 on_select="rerun", selection_mode="single-row")
            chosen = event.selection.rows[0] if event and event.selection.rows else 0
            chosen = min(chosen, len(page.rows) - 1)
            n1, n2, n3 = st.columns([1, 3, 1])
            n1.button("← Previous", key="ex_prev", disabled=len(cursors) == 1, on_click=previous_page,
                      width="stretch")
            n2.caption(f"Page {len(cursors)} · {noun} {first:,}–{first + len(page.rows) - 1:,} of "
                       f"{count_label(source)}{' in the store' if filters_t else ''} · sorted by {page.sort}"
                       f"{' (descending)' if page.descending else ''}")
            n3.button("Next →", key="ex_next", disabled=page.next_after is None, on_click=next_page,
                      args=(page.next_after,), width="stretch")
            d1, d2, d3, d4 = st.columns(4)
            d1.download_button("CSV · this page", explorer.rows_as_csv(page.rows), file_name=f"{name}-page.csv",
                               mime="text/csv", icon=":material/download:", key="ex_csv_page", width="stretch")
            d2.download_button("JSON · this page", explorer.rows_as_json(page.rows), file_name=f"{name}-page.json",
                               mime="application/json", icon=":material/download:", key="ex_json_page",
                               width="stretch")
            view_args = {"store": store, "name": name, "sort": sort, "descending": descending, "filters": filters_t,
                         "actor_id": me.user_id}
            d3.download_button(f"CSV · up to {explorer.MAX_EXPORT_ROWS:,}", lazy_export("csv", **view_args),
                               file_name=f"{name}.csv", mime="text/csv", icon=":material/download:",
                               key="ex_csv_all", width="stretch")
            d4.download_button(f"JSON · up to {explorer.MAX_EXPORT_ROWS:,}", lazy_export("json", **view_args),
                               file_name=f"{name}.json", mime="application/json", icon=":material/download:",
                               key="ex_json_all", width="stretch")
            open_notebook.explorer_view(store, name, sort, descending, filters_t, page_size, me.user_id)  # issue #18.3
            st.markdown(f"**Row {first + chosen:,} as JSON** — select a row in the table to show another.")
            st.json(explorer.to_jsonable(page.rows[chosen]), expanded=2)

# ------------------------------------------------------------------ chart

if chart_tab.open:
    with chart_tab:
        countable = [f.name for f in fields if f.countable]
        if not countable:
            st.info("No field here can be charted.")
        else:
            default = next((countable.index(c) for c in CHART_FIRST if c in countable), 0)
            c1, c2 = st.columns([3, 1])
            field = c1.selectbox("Field", countable, index=default, key=f"ex_chart_field_{view_key}")
            top = c2.number_input("Top N", min_value=5, max_value=explorer.MAX_TOP, value=15, step=5,
                                  key="ex_chart_top")
            counts = shell.call(load_value_counts, store, name, field, filters_t, int(top), me.user_id)
            if counts is not None and not counts:
                st.info(f"No {noun} match these filters.")
            elif counts:
                data = pd.DataFrame(counts)
                chart = alt.Chart(data).mark_bar(cornerRadiusEnd=3).encode(
                    x=alt.X("count:Q", title=noun.capitalize()), y=alt.Y("value:N", sort="-x", title=field),
                    tooltip=["value", "count"])
                st.altair_chart(chart, width="stretch")
                st.caption(f"The {len(counts)} most frequent values of {md(field)}"
                           f"{' (array elements)' if by_field[field].is_array else ''}"
                           f"{' under the filters above' if filters_t else ''}.")

# ------------------------------------------------------------------ query console (admins)

if me.is_admin:
    st.divider()
    st.subheader("Query console", help="Admins only. Read-only for real: see the line below.")
    for status in (shell.call(console.readonly_role_status), shell.call(console.mongo_console_status)):
        if status is not None:
            st.caption(("🔒 " if status.active else "⚠️ ") + status.message)

    def show_result(result: console.QueryResult | None, kind: str) -> None:
        if result is None:
            return
        st.caption(f"{len(result.rows):,} row(s) in {result.elapsed_ms:,.0f} ms"
                   f"{f' — cut at {console.ROW_CAP:,}' if result.truncated else ''}. {result.note}")
        if not result.rows:
            return
        frame = pd.DataFrame(result.rows, columns=result.columns)
        st.dataframe(frame, hide_index=True, width="stretch")
        g1, g2, g3 = st.columns([2, 2, 1])
        x = g1.selectbox("Chart: label column", result.columns, key=f"console_{kind}_x")
        numeric = [c for c in result.columns if c != x and pd.api.types.is_numeric_dtype(frame[c])]
        y = g2.selectbox("Value column", ["(count of rows)", *numeric], index=1 if numeric else 0,
                         key=f"console_{kind}_y")
        g3.download_button("CSV", explorer.rows_as_csv(result.rows), file_name=f"console-{kind}.csv", mime="text/csv",
                           icon=":material/download:", key=f"console_{kind}_csv", width="stretch")
        if y == "(count of rows)":
            data = frame.groupby(frame[x].astype(str)).size().reset_index(name="rows").rename(columns={x: "label"})
            value = "rows"
        else:
            data = frame[[x, y]].rename(columns={x: "label"}).assign(label=lambda d: d["label"].astype(str))
            value = y
        chart = alt.Chart(data.head(50)).mark_bar(cornerRadiusEnd=3).encode(
            x=alt.X(f"{value}:Q", title=value), y=alt.Y("label:N", sort="-x", title=x), tooltip=["label", value])
        st.altair_chart(chart, width="stretch")
        open_notebook.console_query(kind, me.user_id)  # issue #18.3
        if result.documents:
            with st.expander("Documents as JSON (first 20)"):
                st.json(result.documents[:20], expanded=1)

    sql_examples = {e.title: e for e in console.EXAMPLES if e.store == "postgresql"}
    mongo_examples = {e.title: e for e in console.EXAMPLES if e.store == "mongodb"}

    def use_sql_example() -> None:
        chosen = sql_examples.get(st.session_state.get("console_sql_example"))
        if chosen:
            st.session_state["console_sql"] = chosen.text

    def use_mongo_example() -> None:
        chosen = mongo_examples.get(st.session_state.get("console_mongo_example"))
        if chosen:
            st.session_state["console_mongo"] = chosen.text
            st.session_state["console_mongo_collection"] = chosen.collection
            st.session_state["console_mongo_mode"] = chosen.mode

    sql_tab, mongo_tab = st.tabs(["SQL · PostgreSQL", "Filter / pipeline · MongoDB"], key="console_tab")
    with sql_tab:
        st.selectbox("Saved examples", list(sql_examples), index=None, placeholder="Load an example…",
                     key="console_sql_example", on_change=use_sql_example)
        st.text_area("One SELECT statement", key="console_sql", height=150, max_chars=console.MAX_QUERY_CHARS,
                     placeholder="SELECT role, count(*) FROM users GROUP BY role")
        if st.button("Run SQL", type="primary", icon=":material/play_arrow:", key="console_sql_run"):
            st.session_state["console_sql_result"] = shell.call(
                console.run_sql, actor_id=me.user_id, sql=st.session_state.get("console_sql", ""))
        show_result(st.session_state.get("console_sql_result"), "sql")
    with mongo_tab:
        collections = [s.name for s in (shell.call(load_sources, "mongodb", me.user_id) or [])]
        st.session_state.setdefault("console_mongo_mode", "filter")
        m1, m2, m3 = st.columns([2, 1, 2])
        m3.selectbox("Saved examples", list(mongo_examples), index=None, placeholder="Load an example…",
                     key="console_mongo_example", on_change=use_mongo_example)
        collection = m1.selectbox("Collection", collections, key="console_mongo_collection")
        mode = m2.segmented_control("Kind", list(console.MONGO_MODES), key="console_mongo_mode", required=True)
        st.text_area("JSON filter (object) or pipeline (array of stages)", key="console_mongo", height=150,
                     max_chars=console.MAX_QUERY_CHARS, placeholder='{"status": "open"}')
        if st.button("Run query", type="primary", icon=":material/play_arrow:", key="console_mongo_run"):
            st.session_state["console_mongo_result"] = shell.call(
                console.run_mongo, actor_id=me.user_id, collection=collection, mode=mode or "filter",
                text=st.session_state.get("console_mongo", ""))
        show_result(st.session_state.get("console_mongo_result"), "mongo")
