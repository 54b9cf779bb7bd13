"""The audit log in words (kpis.auditlog)."""

import pandas as pd

from kpis import auditlog


def test_kpi_value_change_in_words(config):
    d = {
        "kpi": "otif",
        "segment": "EMEA",
        "period": "2026-09-01",
        "old": 0.943,
        "new": 0.951,
        "import": 7,
        "new_note": "late carrier",
    }
    assert (
        auditlog.describe("update", "kpi_value", "12", d, config)
        == "Customer OTIF, EMEA, 2026-09: 94.3 % → 95.1 %; note added (import #7)"
    )


def test_import_in_words_without_hashes(config):
    d = {
        "file": "demand.csv",
        "kind": "demand",
        "inserted": 4320,
        "updated": 2,
        "unchanged": 0,
        "sha256": "ab" * 32,
        "items_added": 120,
        "items_changed": 0,
        "changed_values": [{"item": "A"}],
    }
    text = auditlog.describe("import", "import_batch", "3", d, config)
    assert text == (
        "Imported demand actuals from demand.csv (import #3): 4,320 inserted, 2 updated, 0 unchanged, "
        "items: 120 added, 0 with changed attributes"
    )
    assert "abab" not in text and "{" not in text


def test_unknown_event_shows_pairs_not_a_dict(config):
    text = auditlog.describe("create", "action", 5, {"title": "Fix OTIF", "owner": "Ana", "sha256": "x"}, config)
    assert text == "Create action 5 — title: Fix OTIF; owner: Ana"


def test_kpi_definition_change_in_words(config):
    d = {
        "changed": {
            "target": {"old": [{"from": "2024-01", "value": 0.95}], "new": [{"from": "2024-01", "value": 0.96}]}
        }
    }
    assert (
        auditlog.describe("update", "kpi", "otif", d, config)
        == "KPI Customer OTIF changed: target 0.95 from 2024-01 → 0.96 from 2024-01"
    )


def test_import_changes_lists_old_and_new_values(config):
    log = pd.DataFrame(
        [
            {
                "action": "update",
                "entity": "kpi_value",
                "entity_id": "1",
                "at": "2026-10-01 10:00",
                "actor": "a",
                "details": {"kpi": "otif", "segment": "", "period": "2026-09-01", "old": 0.9, "new": 0.91, "import": 4},
            },
            {
                "action": "import",
                "entity": "import_batch",
                "entity_id": "5",
                "at": "2026-10-02 10:00",
                "actor": "a",
                "details": {
                    "kind": "forecasts",
                    "changed_values": [
                        {"item": "A", "period": "2026-09", "lag": 1, "stage": "sales", "old": 10.0, "new": 12.0}
                    ],
                },
            },
        ]
    )
    one = auditlog.import_changes(log, 4, config)
    assert one.to_dict("records") == [
        {"what": "Customer OTIF", "segment": "", "period": "2026-09", "old": 0.9, "new": 0.91, "note": ""}
    ]
    two = auditlog.import_changes(log, 5, config)
    assert two[["what", "period", "lag", "old", "new"]].iloc[0].tolist() == ["A", "2026-09", 1, 10.0, 12.0]
    table = auditlog.log_table(log, config)
    assert table.columns.tolist() == ["When (UTC)", "Who", "What"] and "{" not in " ".join(table["What"])
