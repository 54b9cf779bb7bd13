"""What the source tests share: a config with given [[source]] tables, a MariaDB database of their own, KPI
actuals written as CSV and Excel files."""

from __future__ import annotations

import os
import tomllib
import uuid
from pathlib import Path

import pytest

from kpis.config import AppConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

ROWS = [("otif", "2026-05", "", 0.95), ("otif", "2026-06", "", 0.94), ("fill_rate", "2026-05", "", 0.97)]


def config_with(*sources: dict, path: Path | None = None) -> AppConfig:
    """The project's config.toml with these [[source]] tables instead of its own."""
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["source"] = list(sources)
    return parse_config(raw, path=path or ROOT / "config.toml")


def mariadb_admin():
    """A PyMySQL connection as root to the test server, or skip (fail in CI) when it is not there."""
    import pymysql
    from sqlalchemy.engine import make_url

    u = make_url(MARIADB_URL)
    try:
        return pymysql.connect(
            host=u.host, port=u.port or 3306, user=u.username, password=u.password or "", autocommit=True
        )
    except pymysql.err.OperationalError as e:
        if os.environ.get("SOP_PULSE_REQUIRE_MARIADB") or os.environ.get("CI"):
            pytest.fail(f"MariaDB is required but not reachable at {u.host}:{u.port}: {e}")
        pytest.skip(f"no MariaDB at {u.host}:{u.port} (TEST_MARIADB_URL)")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_actuals_csv(path: Path, rows=ROWS, header="kpi,period,segment,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{k},{p},{s},{v}\n" for k, p, s, v in rows), encoding="utf-8")
    return path


def write_actuals_xlsx(path: Path, rows=ROWS) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["kpi", "period", "segment", "value"])
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path
