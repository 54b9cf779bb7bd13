"""Tests for kpis.redact: no password, in any part of a URL, is ever printed, logged or shown (the CLI's side is in
tests/cli/test_cli_errors.py)."""

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from kpis import redact
from kpis.store.engine import describe_db_error, make_engine

ROOT = Path(__file__).resolve().parent
APP = str(ROOT.parent / "app.py")
SECRET = "Tr0ub4dor-3"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg://sop:{SECRET}@db/sop", "postgresql+psycopg://sop:***@db/sop"),
        (f"postgresql+psycopg://sop@db/sop?password={SECRET}", "postgresql+psycopg://sop@db/sop?password=***"),
        (
            f"postgresql+psycopg://sop@db:5432/sop?sslmode=require&PassWord={SECRET}&x=1",
            "postgresql+psycopg://sop@db:5432/sop?sslmode=require&PassWord=***&x=1",
        ),
        (f"postgresql+psycopg://sop:ab@{SECRET}@db/sop", "postgresql+psycopg://sop:***@db/sop"),
        (f"postgresql://sop:a/b@{SECRET}@db/sop", "postgresql://sop:***@db/sop"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_url_masks_every_password(url, shown):
    assert redact.url(url) == shown
    assert SECRET not in redact.url(url, user=False) and "sop:" not in redact.url(url, user=False)


def test_text_masks_urls_and_the_tail_of_a_password_shown_as_a_host():
    url = f"postgresql+psycopg://sop:ab@{SECRET}@db.invalid/sop"
    message = f"failed to resolve host '{SECRET}@db.invalid': Name or service not known; url {url}"
    out = redact.text(message, urls=(url,))
    assert SECRET not in out and "ab@" not in out and "db.invalid" in out
    redact.remember(url)
    assert SECRET not in redact.text(f"host '{SECRET}@db.invalid'")


def test_a_driver_error_never_shows_the_password():
    url = f"postgresql+psycopg://sop:pw@{SECRET}@db.invalid/sop?connect_timeout=2"
    engine = make_engine(url)
    with pytest.raises(OperationalError) as err:
        engine.connect()
    engine.dispose()
    assert SECRET in str(err.value)  # what the driver says: the tail of the password as the host name
    reason = describe_db_error(err.value)
    assert "db.invalid" in reason and SECRET not in reason and "pw@" not in reason


def test_the_page_notice_never_shows_the_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://sop:pw@{SECRET}@db.invalid/sop?password={SECRET}")
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT.parent)
    at = AppTest.from_file(APP, default_timeout=60).run()
    notices = [e.value for e in at.error]
    assert any("database cannot be reached" in n for n in notices), notices
    assert not any(SECRET in n or "pw@" in n for n in notices), notices


@pytest.mark.parametrize(
    "url", [f"postgresql+psycopg://sop:{SECRET}@127.0.0.1:notaport/sop", f"nosuchdb://sop:{SECRET}@db/sop"]
)
def test_a_database_url_the_page_cannot_use_is_a_clear_notice(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT.parent)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    notices = [e.value for e in at.error]
    assert any("database URL" in n for n in notices) and not any(SECRET in n for n in notices), notices


def test_the_configured_url_is_remembered_so_no_message_shows_its_password(config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://sop@db/sop?password=cfg-{SECRET}")
    config.database_url()
    assert redact.text(f"authentication failed with 'cfg-{SECRET}'") == "authentication failed with '***'"
