"""Forum browser: find a discussion fast, then read its whole thread.

The filters live in the sidebar and are bound to the URL (``bind="query-params"``), so a link opens
the same view; ``?post=<id>`` opens a thread. They stay rendered while a thread is open, so the
list comes back as it was. The list is paged on the server with keyset cursors (a stack of them in
session state gives "previous"). A thread is read once (one query for all replies, cached) and drawn
in pages of top-level branches, folded by depth and width (``forum.thread_lines``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import open_notebook, shell
from app_pages.widgets import Pager, h, html_text, md, plural, when
from p2p_store.community import forum, stats
from p2p_store.errors import NotFound

me = shell.page_guard(stores=("postgresql", "mongodb"))

ALL_CATEGORIES = "All categories"
ALL_TAGS = "All tags"
ANY_STATUS = "Any status"
SOLVED = {"Solved or not": None, "Solved": True, "Unsolved": False}
PAGE_SIZES = [10, 20, 50]
INDENT_REM = 1.5  # rem of indentation per reply level
MAX_INDENT_LEVELS = 6  # deeper replies (after "show more") stop moving right
THREAD_KEY = "forum_thread_view"  # {"post": id, "branches": n, "expanded": [ids], "focus": id | None}
PAGES_KEY = "forum_cursors"  # cursors of the pages walked so far; the last one is on screen
pager = Pager(PAGES_KEY)
VIEW_KEY = "forum_view"  # the filters the cursors belong to
# Fold buttons are indented like the replies they reveal (a container + spacer per fold would
# triple the elements of a big thread's page).
FOLD_CSS = "<style>" + "".join(
    f'[class*="st-key-more_{level}_"] {{margin-left: {level * INDENT_REM}rem}}'
    for level in range(1, MAX_INDENT_LEVELS + 1)) + "</style>"
# A plain Vega-Lite spec: building it with altair costs ~10 ms of validation on every rerun.
CATEGORY_CHART = {
    "mark": {"type": "bar", "cornerRadiusEnd": 3},
    "encoding": {"x": {"field": "posts", "type": "quantitative", "title": "Posts"},
                 "y": {"field": "category", "type": "nominal", "sort": "-x", "title": None},
                 "tooltip": [{"field": "category"}, {"field": "posts"}]},
}


# ------------------------------------------------------------------ cached reads (bounded)


def load_facets() -> stats.Cached:
    """Facet counts from the figure cache (stale-while-revalidate, #17): never a scan on a page run."""
    return stats.forum_facets()


@st.cache_data(ttl=30, max_entries=128, show_spinner=False)
def load_page(category, tag, author_id, status, solved, search, sort, cursor, page_size) -> forum.PostPage:
    return forum.list_posts(category=category, tag=tag, author_id=author_id, status=status, solved=solved,
                            search=search, sort=sort, cursor=cursor, page_size=page_size)


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def load_total(category, tag, author_id, status, solved, search) -> forum.PostTotal:
    return forum.count_posts(category=category, tag=tag, author_id=author_id, status=status, solved=solved,
                             search=search)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def load_thread(post_id: str) -> forum.Thread:
    return forum.thread(post_id=post_id)


# ------------------------------------------------------------------ navigation (callbacks)


def open_post(post_id: str) -> None:
    st.query_params["post"] = post_id


def back_to_list() -> None:
    st.query_params.pop("post", None)


def new_filters() -> None:
    """A filter changed: show the list from its first page (also when a thread was open)."""
    back_to_list()
    pager.reset()


def thread_view(post_id: str) -> dict:
    view = st.session_state.get(THREAD_KEY)
    if not view or view.get("post") != post_id:
        view = {"post": post_id, "branches": forum.BRANCHES_PER_PAGE, "expanded": [], "focus": None}
        st.session_state[THREAD_KEY] = view
    return view


def load_more_branches(post_id: str) -> None:
    view = thread_view(post_id)
    view["branches"] += forum.BRANCHES_PER_PAGE


def expand(post_id: str, reply_id: str) -> None:
    view = thread_view(post_id)
    view["expanded"] = [*view["expanded"], reply_id]


def reveal(post_id: str, top_level_id: str, ancestors: tuple[str, ...]) -> None:
    """Show one reply where it sits: its branch alone (not every branch before it), unfolded."""
    view = thread_view(post_id)
    view["focus"] = top_level_id
    view["expanded"] = list(dict.fromkeys([*view["expanded"], *ancestors]))


def whole_thread(post_id: str) -> None:
    thread_view(post_id)["focus"] = None


# ------------------------------------------------------------------ sidebar: filters (always rendered)

cached_facets = shell.call(load_facets)
facets = cached_facets.value if cached_facets else forum.ForumFacets(categories=[], tags=[], authors=[])
if cached_facets:
    st.sidebar.caption(f"Counts as of {cached_facets.as_of:%H:%M:%S} UTC"
                       + (" · refreshing" if cached_facets.refreshing else ""))
authors = {a.author_id: a for a in facets.authors}


def author_label(author_id: str) -> str:
    if not author_id:
        return "All authors"
    a = authors.get(author_id)
    if a is None:
        return author_id
    return f"{a.name} ({a.email})" if a.email else f"{a.name} ({author_id[:8]})"


with st.sidebar:
    st.subheader("Find a discussion", divider="gray")
    search = st.text_input("Search titles and posts", key="q", max_chars=forum.MAX_SEARCH, bind="query-params",
                           on_change=new_filters, placeholder="e.g. vibration, OEE, RFID")
    category = st.selectbox("Category", [ALL_CATEGORIES, *(c["category"] for c in facets.categories)],
                            key="category", bind="query-params", on_change=new_filters)
    tag = st.selectbox("Tag", [ALL_TAGS, *(t["tag"] for t in facets.tags)], key="tag", bind="query-params",
                       on_change=new_filters)
    author_id = st.selectbox("Author", ["", *authors], format_func=author_label, key="author",
                             bind="query-params", on_change=new_filters)
    status = st.selectbox("Status", [ANY_STATUS, *forum.STATUSES], key="status", bind="query-params",
                          on_change=new_filters)
    solved_label = st.selectbox("Best answer", list(SOLVED), key="solved", bind="query-params",
                                on_change=new_filters)
    sort_label = st.selectbox("Sort by", list(forum.SORT_LABELS.values()), key="sort", bind="query-params",
                              on_change=new_filters, help="Pinned posts always come first.")
    page_size = st.selectbox("Posts per page", PAGE_SIZES, index=1, key="per_page", bind="query-params",
                             on_change=new_filters)

sort = {label: name for name, label in forum.SORT_LABELS.items()}[sort_label]
filters = (None if category == ALL_CATEGORIES else category, None if tag == ALL_TAGS else tag, author_id or None,
           None if status == ANY_STATUS else status, SOLVED[solved_label], search or "")
pager.reset_when_changed((*filters, sort, page_size), view_key=VIEW_KEY)  # e.g. a link or the back button


# ------------------------------------------------------------------ drawing posts and threads


def badges(item: forum.PostRow | forum.Post) -> str:
    parts = []
    if item.pinned:
        parts.append(":violet-badge[:material/push_pin: Pinned]")
    if item.solved:
        parts.append(":green-badge[:material/check_circle: Solved]")
    parts.append(f":blue-badge[{md(item.category)}]")
    if item.status != "open":
        parts.append(f":gray-badge[{md(item.status)}]")
    parts.extend(f":gray-badge[\\#{md(t)}]" for t in item.tags)
    return " ".join(parts)


def reply_html(reply: forum.Reply) -> str:
    indent = min(reply.depth - 1, MAX_INDENT_LEVELS) * INDENT_REM
    colour = "#2a9d8f" if reply.is_best_answer else "rgba(128,128,128,.35)"
    best = " · <b style='color:#2a9d8f'>✔ Best answer</b>" if reply.is_best_answer else ""
    return (f'<div id="reply-{h(reply.id)}" data-reply="{h(reply.id)}" data-depth="{reply.depth}" '
            f'style="margin:0 0 .6rem {indent}rem;padding:.1rem 0 .1rem .75rem;border-left:3px solid {colour}">'
            f'<div style="font-size:.85rem;opacity:.8"><b>{h(reply.author)}</b> · '
            f'{when(reply.created_at)} · ▲ {reply.upvotes:,}{best}</div>'
            f"<div>{html_text(reply.body)}</div></div>")


def draw_lines(post_id: str, lines: list[forum.ThreadLine]) -> None:
    """Consecutive replies go into ONE markdown element (cheap reruns); each fold is one button,
    indented by FOLD_CSS through its ``st-key-more_<level>_`` class."""
    st.html(FOLD_CSS)
    chunk: list[str] = []
    for line in lines:
        if line.kind == "reply":
            chunk.append(reply_html(line.reply))
            continue
        if chunk:
            st.markdown("".join(chunk), unsafe_allow_html=True)
            chunk = []
        level = min(line.reply.depth, MAX_INDENT_LEVELS)  # the folded replies' indentation
        st.button(f"Show {plural(line.hidden, 'more reply', 'more replies')}", key=f"more_{level}_{line.reply.id}",
                  type="tertiary", icon=":material/subdirectory_arrow_right:", on_click=expand,
                  args=(post_id, line.reply.id))
    if chunk:
        st.markdown("".join(chunk), unsafe_allow_html=True)


# ------------------------------------------------------------------ a thread


def thread_or_none(post_id: str) -> forum.Thread | None:
    try:
        return load_thread(post_id)
    except NotFound:
        return None


def show_thread(post_id: str) -> None:
    st.button("Back to the list", icon=":material/arrow_back:", key="back_to_list", on_click=back_to_list)
    tree = shell.call(thread_or_none, post_id)
    if tree is None:
        st.warning("No such post. It may have been removed, or the link is incomplete.", icon=":material/search_off:")
        return
    post = tree.post
    st.title(md(post.title), anchor=False)
    st.markdown(badges(post))
    st.caption(f"by **{md(post.author)}** · posted {when(post.created_at)} · last activity "
               f"{when(post.last_activity_at)} · {post.views:,} views · {post.upvotes:,} upvotes · "
               f"{plural(post.reply_count, 'reply', 'replies')}")
    st.markdown(html_text(post.body), unsafe_allow_html=True)

    view = thread_view(post_id)
    lines = forum.thread_lines(tree, branches=view["branches"], expanded=view["expanded"], focus=view["focus"])
    best = tree.best_answer
    if best is not None:
        with st.container(border=True, key="best_answer"):
            st.markdown(f":green-badge[:material/check_circle: Best answer] **{md(best.author)}** · "
                        f"{when(best.created_at)} · ▲ {best.upvotes:,}")
            st.markdown(html_text(best.body), unsafe_allow_html=True)
            if best.id in lines.visible:
                st.markdown(f"[:material/south: See it in the thread](#reply-{best.id})")
            else:
                where = forum.reply_location(tree, reply_id=best.id)
                st.button("Show it in the thread", key="reveal_best", icon=":material/south:",
                          on_click=reveal, args=(post_id, where.top_level_id, where.ancestors),
                          help=f"It is in reply thread {where.branch:,} of {len(tree.top_level):,}.")

    st.subheader(plural(len(tree.replies), "reply", "replies"), anchor=False)
    if tree.truncated:
        st.caption(f"Only the first {forum.MAX_THREAD_REPLIES:,} replies are shown.")
    if not tree.replies:
        st.info("No replies yet.")
        return
    if view["focus"] is not None:
        st.caption("Showing only the part of the thread that holds the best answer.")
        st.button("Show the whole thread", key="whole_thread", icon=":material/unfold_more:", on_click=whole_thread,
                  args=(post_id,))
    draw_lines(post_id, lines.lines)
    if lines.remaining_branches and view["focus"] is None:
        st.button(f"Load more replies ({lines.remaining_branches:,} more "
                  f"{'thread' if lines.remaining_branches == 1 else 'threads'} of replies)",
                  key="load_more_branches", icon=":material/expand_more:", on_click=load_more_branches,
                  args=(post_id,))


# ------------------------------------------------------------------ the list


def post_card(row: forum.PostRow) -> None:
    with st.container(border=True):
        st.button(md(row.title), key=f"open_{row.id}", type="tertiary", on_click=open_post, args=(row.id,))
        # Badges and the facts line in one element: twenty cards, each rerun.
        st.markdown(f"{badges(row)}  \n:small[:gray[by **{md(row.author)}** · posted {when(row.created_at)} · "
                    f"last activity {when(row.last_activity_at)} · {row.views:,} views · {row.upvotes:,} upvotes · "
                    f"{plural(row.reply_count, 'reply', 'replies')}]]")


def show_list() -> None:
    st.title("Forum")
    left, right = st.columns([3, 1], gap="large")
    with right:
        st.subheader("Posts per category", anchor=False)
        if facets.categories:
            st.vega_lite_chart(pd.DataFrame(facets.categories), CATEGORY_CHART, width="stretch")
        else:
            st.caption("No posts yet.")
    with left:
        cursors = pager.cursors
        page = shell.call(load_page, *filters, sort, pager.cursor, page_size)
        if page is None:
            if cursors[-1] is not None:
                st.button("Back to the first page", on_click=new_filters, key="first_page")
            return
        total = shell.call(load_total, *filters)
        first = (len(cursors) - 1) * page.page_size + 1
        shown = f"{first:,}–{first + len(page.rows) - 1:,}" if page.rows else "none"
        st.caption(f"Showing {shown} of {total.label() if total else '?'} posts · pinned first, then "
                   f"{forum.SORT_LABELS[sort].lower()}")
        if not page.rows:
            st.info("No posts match these filters." if len(cursors) == 1 else "No more posts.",
                    icon=":material/filter_alt_off:")
        open_notebook.forum_list(filters, sort, page_size)  # issue #18.3
        for row in page.rows:
            post_card(row)
        prev_col, page_col, next_col = st.columns([1, 1, 1], vertical_alignment="center")
        prev_col.button("Previous", icon=":material/chevron_left:", key="prev_page", disabled=len(cursors) == 1,
                        on_click=pager.previous)
        page_col.caption(f"Page {len(cursors)}")
        next_col.button("Next", icon=":material/chevron_right:", key="next_page", disabled=page.next_cursor is None,
                        on_click=pager.next, args=(page.next_cursor,))


post_param = st.query_params.get("post")
if post_param is not None:
    show_thread(post_param)
else:
    show_list()
