"""Saving an edit that may meet someone else's: one place for the try/except every edit form repeated.

A write names the version (or status) its form was opened at; kpis.store.versions.EditConflict says someone
changed the record since. The page then either keeps the message in the session, beside the form whose typed
values stay (`conflict_key`), or shows it at once (`conflict_text`). A refusal of the write itself (one of
`refused`: a rule, a role) is shown with its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from kpis import safety
from kpis.store.versions import EditConflict


@dataclass(frozen=True)
class Saved:
    """What a write gave (`value`) when it went through (`ok`); nothing written otherwise."""

    ok: bool
    value: Any = None


def save(
    write: Callable[[], Any],
    *,
    refused: tuple[type[Exception], ...] = (),
    conflict_key: str | None = None,
    conflict_text: str = "Not saved: {}.",
    refused_text: str = "{}",
    show_refused: Callable[[Exception], None] | None = None,
) -> Saved:
    """Run `write()`. On an edit conflict: its message goes to st.session_state[conflict_key] when given (the page
    shows it beside the form), else on screen as `conflict_text` ("{}" is the reason). On a refusal: `show_refused`
    when given, else `refused_text` on screen. The reasons are user-facing text, shown escaped."""
    try:
        value = write()
    except EditConflict as e:
        if conflict_key is not None:
            st.session_state[conflict_key] = str(e)
        else:
            st.error(conflict_text.format(safety.md(str(e))), icon=":material/sync_problem:")
        return Saved(False)
    except refused as e:
        if show_refused is not None:
            show_refused(e)
        else:
            st.error(refused_text.format(safety.md(str(e))))
        return Saved(False)
    return Saved(True, value)
