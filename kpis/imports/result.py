"""The one result of every import: what it changed, worded alike for every kind."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportResult:
    """What an import changed. `unit` names what was counted ('values', 'actions', 'meetings', ...); kind-specific
    extras are optional fields (items of a demand file, columns the import did not use)."""

    filename: str
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    batch_id: int | None = None
    previous: dict | None = field(default=None)
    sheet: str | None = None  # the Excel sheet read
    kind: str = ""
    unit: str = "values"
    noun: str = ""  # what the counts of a change name ('2 meetings inserted'); '' for values and assessments
    added: str = "inserted"  # the word for new records ('added' for actions)
    items_added: int = 0  # demand files: items created
    items_changed: int = 0  # demand files: items whose attributes changed
    ignored_columns: tuple[str, ...] = ()  # columns in the table the import did not use
    ignored_label: str = "Ignored column(s)"

    @property
    def source(self) -> str:
        """'file.xlsx (sheet 'Actuals')' or the file name."""
        return f"{self.filename} (sheet '{self.sheet}')" if self.sheet else self.filename

    @property
    def ignored(self) -> list[str]:
        return list(self.ignored_columns)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.items_added or self.items_changed)

    def seen_before(self) -> str:
        """' (same content imported <when> UTC by <who>)' for a re-import that changed nothing, else ''."""
        if not self.previous:
            return ""
        return f" (same content imported {self.previous['when']:%Y-%m-%d %H:%M} UTC by {self.previous['who']})"

    def summary(self) -> str:
        """One line for the UI and the CLI."""
        ignored = f" {self.ignored_label}: {', '.join(self.ignored_columns)}." if self.ignored_columns else ""
        if not self.changed:
            seen = self.seen_before()
            return f"{self.source}: no changes — all {self.unchanged} {self.unit} already stored{seen}.{ignored}"
        noun = f"{self.noun} " if self.noun else ""
        items = ""
        if self.items_added or self.items_changed:
            items = f"; items: {self.items_added} added, {self.items_changed} with changed attributes"
        return (
            f"{self.source}: {self.inserted} {noun}{self.added}, {self.updated} updated, {self.unchanged} unchanged"
            f"{items} (import #{self.batch_id}).{ignored}"
        )
