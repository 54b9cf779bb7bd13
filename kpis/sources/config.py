"""The ``[[source]]`` tables of config.toml: where data arrives from on its own.

A source is a database (``url`` with ``query`` or ``table``; the password from the environment variable named by
``password_env``, never from the file) or a file / glob of files (``path``: CSV, Excel, Parquet). ``columns``
renames the source's columns to the import's; ``schedule`` is a cron expression (``sync --watch``).
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

KINDS = ("actuals", "demand", "forecasts", "actions", "assessments", "meetings", "decisions")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


def check_cron(expr: str) -> str:
    """The expression when croniter reads it (five fields), else ValueError saying why."""
    from croniter import croniter

    if len(expr.split()) != 5:
        raise ValueError(f"'{expr}' is not a cron expression of 5 fields (minute hour day month weekday)")
    if not croniter.is_valid(expr):
        raise ValueError(f"'{expr}' is not a valid cron expression")
    return expr


class SourceConfig(BaseModel):
    """One ``[[source]]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["actuals", "demand", "forecasts", "actions", "assessments", "meetings", "decisions"]
    url: str | None = None
    password_env: str | None = None
    query: str | None = None
    table: str | None = None
    path: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    schedule: str | None = None
    timeout: float = Field(default=30, gt=0, le=3600)  # seconds to connect and for one statement
    settle: float = Field(default=2, ge=0, le=600)  # seconds a file's size must stay the same before it is read

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("use 1 to 60 letters, digits, _ and -")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return None if v is None else check_cron(v)

    @property
    def is_database(self) -> bool:
        return self.url is not None

    def where(self) -> str:
        """Where it reads, without user or password: 'host/database, table t' or the folder / file."""
        if self.path is not None:
            return self.path
        from kpis import redact

        place = redact.url(self.url, user=False).split("://", 1)[-1]
        return f"{place}, " + (f"table {self.table}" if self.table else "query")

    def password(self) -> str | None:
        """The password from the environment (None when no password_env); KeyError naming a variable not set."""
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise KeyError(self.password_env)
        return value


def _message(err: dict) -> str:
    if err["type"] == "missing":
        return "is required"
    if err["type"] == "extra_forbidden":
        return "is not a known field"
    if err["type"] == "literal_error":
        return f"unknown kind {err.get('input')!r}; expected one of {', '.join(KINDS)}"
    return str(err["msg"]).removeprefix("Value error, ")


def check_sources(raw: Any, where: str, problems: list[str]) -> tuple[SourceConfig, ...]:
    """Validate the [[source]] tables; every problem names the source and the field."""
    if raw in (None, []):
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: [[source]] must be a list of tables")
        return ()
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        label = (
            f"{where}: source '{item.get('name')}'"
            if isinstance(item, dict) and item.get("name")
            else (f"{where}: source #{i + 1}")
        )
        if not isinstance(item, dict):
            problems.append(f"{label} is not a table")
            continue
        try:
            s = SourceConfig.model_validate(item)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(table)"
                problems.append(f"{label} field '{field}': {_message(err)}")
            continue
        before = len(problems)
        if (s.url is None) == (s.path is None):
            problems.append(
                f"{label} field 'url': give either url (a database) or path (files), "
                + ("not both" if s.url else "one of them")
            )
        if s.url is not None:
            if (s.query is None) == (s.table is None):
                problems.append(f"{label} field 'query': a database source needs either query or table, not both")
            try:
                from sqlalchemy.engine import make_url

                u = make_url(s.url)
                if u.password:
                    problems.append(
                        f"{label} field 'url': holds a password; put it in an environment variable named by "
                        "password_env"
                    )
            except Exception:
                problems.append(f"{label} field 'url': not a database URL SQLAlchemy can read")
        else:
            for f in ("query", "table", "password_env"):
                if getattr(s, f) is not None and s.path is not None:
                    problems.append(f"{label} field '{f}': only applies to a database source (url)")
        if s.name in seen:
            problems.append(f"{label} field 'name': '{s.name}' is declared twice")
        seen.add(s.name)
        if len(problems) == before:
            out.append(s)
    return tuple(out)


def missing_env(sources: tuple[SourceConfig, ...], where: str) -> list[str]:
    """A problem for every password_env that is not set in this environment."""
    return [
        f"{where}: source '{s.name}' field 'password_env': environment variable {s.password_env} is not set"
        for s in sources
        if s.password_env and s.password_env not in os.environ
    ]
