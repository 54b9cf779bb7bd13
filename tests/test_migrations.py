"""Every earlier schema revision upgrades to the newest with its data: a database filled with the demo company
is taken down to each earlier revision, its rows are fingerprinted, it is upgraded again, and every row of
every table that revision had must still be there with the same values (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from kpis import demo
from kpis.store.engine import (
    MIGRATIONS,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)


def revisions() -> list[str]:
    """Every revision from the first to the newest."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def fingerprint(engine) -> dict[str, tuple[int, str]]:
    """Per table: row count and a hash of every row's values (rows in a stable order)."""
    out = {}
    insp = inspect(engine)
    with engine.connect() as conn:
        for table in sorted(insp.get_table_names()):
            if table == "alembic_version":
                continue
            cols = sorted(c["name"] for c in insp.get_columns(table))
            rows = conn.execute(text(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"')).all()
            normal = sorted(repr(tuple(_norm(v) for v in row)) for row in rows)
            out[table] = (len(rows), hashlib.sha256("\n".join(normal).encode()).hexdigest(), tuple(cols))
    return out


def _norm(v):
    """Values as both databases return them (floats rounded, dates and JSON as text)."""
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, sort_keys=True)
    return str(v) if v is not None else None


def test_there_is_one_line_of_revisions():
    revs = revisions()
    assert revs[-1] == head_revision() and len(set(revs)) == len(revs)


@pytest.mark.parametrize("target", revisions()[:-1])
def test_upgrading_from_an_earlier_revision_keeps_every_row(engine, config, admin, target):
    demo.load_demo(engine, config, admin, seed=7)
    downgrade(engine, target)
    assert current_revision(engine) == target
    before = fingerprint(engine)
    assert sum(n for n, _h, _c in before.values()) > 1000  # there is real data to keep
    upgrade(engine)
    after = fingerprint(engine)
    for table, (n, digest, cols) in before.items():
        assert table in after, f"{table} disappeared when upgrading from {target}"
        if after[table][2] == cols:
            assert after[table][:2] == (n, digest), f"{table} changed when upgrading from {target}"
        else:  # the table gained columns: the old columns' values must be unchanged
            kept = _project(engine, table, cols)
            assert kept == (n, digest), f"{table}: rows or values changed when upgrading from {target}"


def _project(engine, table: str, cols: tuple[str, ...]) -> tuple[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"')).all()
    normal = sorted(repr(tuple(_norm(v) for v in row)) for row in rows)
    return len(rows), hashlib.sha256("\n".join(normal).encode()).hexdigest()


def test_the_people_directory_migration_goes_down_and_up_keeping_every_other_row(engine, config, admin):
    """0011 adds the people directory: down to 0010 and up again, every other table keeps every row; the
    directory itself is dropped on the way down (it fills again as people sign in)."""
    from kpis.access import people

    demo.load_demo(engine, config, admin, seed=7)
    maria = type(admin)(name="oidc:https://id.example.com|maria-1", role="contributor", display="Maria Chen")
    people.record_sign_in(engine, maria)
    before = fingerprint(engine)
    assert before["person"][0] == 1
    downgrade(engine, "0010")
    assert "person" not in inspect(engine).get_table_names()
    assert fingerprint(engine) == {t: v for t, v in before.items() if t != "person"}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    after = fingerprint(engine)
    assert {t: v for t, v in after.items() if t != "person"} == {t: v for t, v in before.items() if t != "person"}
    assert after["person"][0] == 0
    people.record_sign_in(engine, maria)
    assert people.name(engine, maria.name) == "Maria Chen"
