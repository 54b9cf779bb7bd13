"""Who may do what: the one table (RULES) the core checks and docs/sign-in-and-roles.md shows.

Each rule names the lowest role that may do the action everywhere; some also let a contributor act on what
is their own (the meeting they chair, the decision they own, the review they wrote), where "their own" is
decided by kpis.access.identity (their key, or their verified e-mail address), never by a typed name.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpis.access.users import RANK, NotAllowed, User, record_refusal

ROLES = tuple(RANK)


@dataclass(frozen=True)
class Rule:
    """An action, the lowest role that may do it, and whose own records a contributor may also act on."""

    action: str
    role: str
    what: str
    own: str = ""  # "": nobody else; else the words for the contributor who may also (e.g. "the meeting's chair")


RULES: tuple[Rule, ...] = (
    Rule("read", "viewer", "read every page and download"),
    Rule("answer assessment", "contributor", "answer the maturity assessment for themselves"),
    Rule("write review", "contributor", "write and submit post-implementation reviews, change their own drafts"),
    Rule("log meeting", "contributor", "log a meeting with its people and new decisions"),
    Rule("raise decision", "contributor", "raise a decision"),
    Rule("comment", "editor", "comment on a KPI's period: what happened, why, what is being done", "the KPI's owner"),
    Rule("edit meeting", "editor", "change a logged meeting: type, date, chair, notes, who attended", "its chair"),
    Rule("decide", "editor", "mark a pending decision decided", "its owner"),
    Rule("amend review", "editor", "amend a submitted review", "its author"),
    Rule("answer for others", "editor", "enter assessment answers for someone else"),
    Rule("import", "editor", "import data (the Data page and `python -m kpis import`)"),
    Rule("manage actions", "editor", "create improvement actions, move them, mark them verified or not effective"),
    Rule("audit log", "admin", "read the Audit log"),
    Rule("destroy", "admin", "`db downgrade`, `demo --yes`, `backup` and `restore`"),
    Rule("act as another user", "admin", "name another user on the command line (`--user`, `SOP_PULSE_USER`)"),
)
BY_ACTION = {r.action: r for r in RULES}


def allowed(role: str, action: str, *, own: bool = False) -> bool:
    """True when the role may do the action; `own`: the record is the user's (chair, owner, author)."""
    rule = BY_ACTION[action]
    if RANK[role] >= RANK[rule.role]:
        return True
    return bool(rule.own) and own and RANK[role] >= RANK["contributor"]


def may(user: User, action: str, owner: str | None = None) -> bool:
    """True when the user may do the action; `owner`: the name recorded on the record (a meeting's chair, a
    decision's owner, a review's author), the user's own when it is their key or verified e-mail."""
    return allowed(user.role, action, own=user.is_self(owner))


def require(user: User, action: str, *, own: bool = False, engine=None, what: str | None = None) -> None:
    """Raise NotAllowed unless the user may do the action (see RULES); with an engine the refusal is audited."""
    if allowed(user.role, action, own=own):
        return
    rule = BY_ACTION[action]
    if engine is not None:
        record_refusal(engine, user, action, what or action)
    who = f"the {rule.role} role" + (f", or a contributor who is {rule.own}" if rule.own else "")
    raise NotAllowed(f"{user.display or user.name} ({user.role}) may not {action}; this needs {who}")


def _cell(rule: Rule, role: str) -> str:
    if allowed(role, rule.action):
        return "yes"
    if rule.own and allowed(role, rule.action, own=True):
        return f"if {rule.own}"
    return "no"


def markdown_table() -> str:
    """RULES as the Markdown table in docs/sign-in-and-roles.md (every action, every role)."""
    lines = ["| action | " + " | ".join(f"`{r}`" for r in ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    lines += [f"| {rule.what} | " + " | ".join(_cell(rule, r) for r in ROLES) + " |" for rule in RULES]
    return "\n".join(lines)
