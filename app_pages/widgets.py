"""Page-side helpers every page shares (docs/architecture.md, "Pages"): the ONE way to show text a
person typed or a store holds, a keyset pager, download buttons and labels.

Escaping rule: any user-controlled string (names, companies, titles, bodies, ids, config values, tags)
that reaches ``st.markdown``, ``st.caption``, ``st.title``/``st.subheader``, a button or expander label,
a toast, a dialog title or a badge goes through :func:`md`; into ``unsafe_allow_html`` it goes through
:func:`html_text` (or :func:`h` for one value). Streamlit renders those strings as Markdown with its own
directives (``:red[...]``, ``:material/x:``, ``$...$`` LaTeX, ``![image](url)``, links), so an
unescaped ``![x](http://evil)`` in a company name would fetch a remote image in every reader's browser.
Widget labels of selectboxes, tables and charts are plain text in Streamlit and need no escaping.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import streamlit as st

STORE_LABEL = {"postgresql": "PostgreSQL", "mongodb": "MongoDB"}

# Characters that Markdown, Streamlit's directives (":color[...]", ":material/x:", emoji shortcodes),
# LaTeX ($) or raw HTML (<, >, &) give a meaning inside a line, and "-" (lists, rules, "--" dashes);
# CommonMark lets a backslash escape each. "." and "=" mean something only where a line starts
# ("1." lists, "===" headings), so they are escaped there only: a sentence keeps its plain text.
_MD_INLINE = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~$:&])")
_MD_LINE_START = re.compile(r"^(\s*)(?:(=)|(\d+)([.)]))", re.MULTILINE)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, digits, dot = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{digits}\\{dot}"


def md(text: object, *, keep_lines: bool = False) -> str:
    """``text`` shown literally through Streamlit Markdown: no links, images, badges, LaTeX or HTML.

    One line by default (runs of whitespace become one space: labels, titles, badges, captions);
    ``keep_lines=True`` keeps the line breaks of a body (a single newline still joins lines into one
    paragraph, as Markdown does)."""
    value = "" if text is None else str(text)
    if not keep_lines:
        value = " ".join(value.split())
    return _MD_LINE_START.sub(_escape_line_start, _MD_INLINE.sub(r"\\\1", value))


def code(text: object) -> str:
    """``text`` as inline code (escapes do not work inside code: the fence outgrows any backtick run)."""
    value = " ".join(("" if text is None else str(text)).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def h(text: object) -> str:
    """One value inside HTML given to ``unsafe_allow_html`` (quotes escaped too: safe in attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def html_text(text: object) -> str:
    """A body as escaped HTML with its line breaks (no blank line: it stays one HTML block)."""
    return "<br>".join(h(line) for line in str(text or "").splitlines() if line.strip())


# ------------------------------------------------------------------ labels


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "—"


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# ------------------------------------------------------------------ keyset pager


class Pager:
    """A stack of keyset cursors in session state: the last one is the page on screen.

    ``Pager("forum_cursors")``; ``pager.cursor`` is what to ask the service for; the buttons call
    :meth:`next` / :meth:`previous`; :meth:`reset` goes back to the first page (a filter changed)."""

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def cursors(self) -> list[Any]:
        return st.session_state.get(self.key) or [None]

    @property
    def cursor(self) -> Any:
        return self.cursors[-1]

    @property
    def number(self) -> int:
        """1 for the first page."""
        return len(self.cursors)

    def first_row(self, page_size: int) -> int:
        """The 1-based position of the page's first row in the whole list."""
        return (self.number - 1) * page_size + 1

    def next(self, cursor: Any) -> None:
        st.session_state[self.key] = [*self.cursors, cursor]

    def previous(self) -> None:
        st.session_state[self.key] = self.cursors[:-1] or [None]

    def reset(self) -> None:
        st.session_state[self.key] = [None]

    def reset_when_changed(self, view: object, *, view_key: str) -> None:
        """Back to the first page when ``view`` (filters, sort, page size) differs from the last run's."""
        if st.session_state.get(view_key) != view:
            st.session_state[view_key] = view
            self.reset()


# ------------------------------------------------------------------ downloads


def download(container: Any, label: str, data: bytes | str | Callable[[], bytes | str], *, file_name: str,
             key: str, **kwargs: Any) -> None:
    """A download button whose MIME type follows the file name (``.csv``, ``.json``); ``data`` may be
    a callable, built only when the person clicks."""
    mime = {"csv": "text/csv", "json": "application/json"}.get(file_name.rsplit(".", 1)[-1], "text/plain")
    container.download_button(label, data, file_name=file_name, mime=mime, key=key, **kwargs)
