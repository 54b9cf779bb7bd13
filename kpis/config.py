"""Load and validate config.toml: app settings, roles, forecast settings and the KPI catalog.

Validation collects every problem with its location (file, KPI id, field) instead of
stopping at the first, so `python -m kpis check-config` and the app can list them all.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpis import periods
from kpis.recordmetrics import FORECAST_RECORDS, RECORDS_METRICS, RecordsMetric, records_problems

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.toml"

PRACTICES: dict[str, str] = {
    "collaboration": "Cross-functional collaboration and communication",
    "alignment": "Alignment of objectives and metrics",
    "data": "Data integration and standardization",
    "technology": "Technology enablement and automation",
    "process": "Process alignment and streamlining",
    "change": "Change management and training",
    "improvement": "Continuous improvement and learning culture",
    "sponsorship": "Executive sponsorship and leadership commitment",
    "partners": "Collaboration with external partners",
    "evaluation": "Regular performance evaluation and optimization",
}
FUNCTIONS = ("sales", "marketing", "finance", "supply", "production", "executive", "partners")
UNITS = ("%", "days", "turns", "count", "score", "currency")
ROLES = ("viewer", "contributor", "editor", "admin")

Direction = Literal["higher", "lower", "band"]


class ConfigError(Exception):
    """config.toml has problems; `problems` lists each with its location."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetStep(_Strict):
    """A target value effective from a period on."""

    from_: str = Field(alias="from")
    value: float


class KPI(_Strict):
    """One KPI definition from the catalog."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    function: Literal["sales", "marketing", "finance", "supply", "production", "executive", "partners"]
    owner: str = Field(min_length=1)
    unit: Literal["%", "days", "turns", "count", "score", "currency"]
    direction: Direction
    target: float | list[TargetStep]
    band: float | None = Field(default=None, ge=0)
    amber: float = Field(default=0.0, ge=0)
    red: float = Field(ge=0)
    cadence: Literal["week", "month", "quarter"]
    rollup: Literal["sum", "mean", "last"]
    practices: list[str] = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    source: Literal["import", "forecast", "records"] = "import"
    forecast_metric: Literal["accuracy", "bias", "wape", "mape"] | None = None  # source "forecast": which figure
    forecast_lag: int | None = Field(
        default=None, ge=0
    )  # source "forecast": lag used (default [forecast] headline_lag)
    records_metric: RecordsMetric | None = None  # source "records": which figure of the app's own records
    due_days: int | None = None  # a period's value is due this many days after the period ends ([catalog] default)
    data_owner: str | None = Field(default=None, min_length=1, max_length=120)  # who delivers the data (else owner)

    @field_validator("due_days", mode="before")
    @classmethod
    def _whole_days(cls, v: Any) -> Any:
        return check_due_days(v)

    @field_validator("practices")
    @classmethod
    def _known_practices(cls, v: list[str]) -> list[str]:
        unknown = [p for p in v if p not in PRACTICES]
        if unknown:
            raise ValueError(f"unknown practice(s) {unknown}; expected any of {list(PRACTICES)}")
        return v

    @property
    def computed_from(self) -> str:
        """What a computed KPI's values come from, in words ('' for an imported KPI)."""
        if self.source == "records" and self.records_metric:
            return RECORDS_METRICS[self.records_metric].records
        return FORECAST_RECORDS if self.source == "forecast" else ""

    @property
    def source_label(self) -> str:
        """Where the KPI's values come from, in a word or two: imported, forecast data, meeting log, ..."""
        if self.source == "records" and self.records_metric:
            return RECORDS_METRICS[self.records_metric].short
        return "forecast data" if self.source == "forecast" else "imported"

    @property
    def value_range(self) -> tuple[float, float]:
        """Plausible value range used to catch scale mistakes (87 for 0.87)."""
        lo, hi = _UNIT_RANGES[self.unit]
        return (self.min if self.min is not None else lo, self.max if self.max is not None else hi)

    def target_steps(self) -> list[tuple[dt.date, float]]:
        """Target changes as (period start, value), oldest first; a constant starts at date.min."""
        if isinstance(self.target, (int, float)):
            return [(dt.date.min, float(self.target))]
        return sorted((periods.parse_from(s.from_, self.cadence), s.value) for s in self.target)


_UNIT_RANGES: dict[str, tuple[float, float]] = {
    "%": (0.0, 1.0),
    "days": (0.0, 10_000.0),
    "turns": (0.0, 1_000.0),
    "count": (0.0, 1e12),
    "score": (0.0, 100.0),
    "currency": (-1e15, 1e15),
}


MAX_DUE_DAYS = 366


def check_due_days(v: Any) -> Any:
    """due_days as written: None, or a whole number of days from 0 to 366 (never a text, a fraction or true)."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_DUE_DAYS):
        raise ValueError(f"{v!r} is not a whole number of days from 0 to {MAX_DUE_DAYS} (days after the period ends)")
    return v


class CatalogSection(_Strict):
    """Defaults for every KPI of the catalog (docs/configuration.md, [catalog])."""

    due_days: int | None = None  # a KPI without its own due_days: its value is due this many days after period end

    @field_validator("due_days", mode="before")
    @classmethod
    def _whole_days(cls, v: Any) -> Any:
        return check_due_days(v)


class AppSection(_Strict):
    company: str = "Our company"
    currency: str = "EUR"
    max_upload_mb: float = Field(default=20, gt=0)
    max_import_errors: int = Field(default=50, ge=1)


class LimitsSection(_Strict):
    """What one import may hold, and which periods and dates are plausible (docs/configuration.md, [limits])."""

    max_rows: int = Field(default=25_000_000, ge=1)  # rows of one import file
    max_decoded_mb: float = Field(default=4096, gt=0)  # a Parquet file's size once decoded, from its metadata
    max_expansion: float = Field(default=500, gt=1)  # decoded size / file size: more is a "bomb"
    max_columns: int = Field(default=5_000, ge=1)  # columns in a header
    max_segments_per_kpi: int = Field(default=10_000, ge=1)
    min_period_year: int = Field(default=periods.SUPPORTED_YEARS[0], ge=periods.SAFE_YEARS[0], le=periods.SAFE_YEARS[1])
    max_period_year: int = Field(default=periods.SUPPORTED_YEARS[1], ge=periods.SAFE_YEARS[0], le=periods.SAFE_YEARS[1])
    min_date: dt.date = dt.date(1900, 1, 1)  # plausible dates: action due dates and the like
    max_date: dt.date = dt.date(2199, 12, 31)

    @field_validator("max_period_year", "max_date")
    @classmethod
    def _not_before_min(cls, v: Any, info: Any) -> Any:
        low = info.data.get(info.field_name.replace("max_", "min_"))
        if low is not None and v < low:
            raise ValueError(f"{v} is before {info.field_name.replace('max_', 'min_')} ({low})")
        return v

    @field_validator("min_date", "max_date")
    @classmethod
    def _inside_pandas(cls, v: dt.date) -> dt.date:
        lo, hi = (dt.date(y, 1, 1) for y in periods.SAFE_YEARS)
        if not lo <= v <= hi.replace(month=12, day=31):
            raise ValueError(f"must lie between {lo} and {hi.year}-12-31 (the dates pandas can hold)")
        return v

    @property
    def period_years(self) -> tuple[int, int]:
        """(first, last) year a period may lie in."""
        return (self.min_period_year, self.max_period_year)


class DatabaseSection(_Strict):
    url: str = "sqlite:///data/sop_pulse.db"


Role = Literal["viewer", "contributor", "editor", "admin"]


class RolesSection(_Strict):
    default: Role = "admin"  # local mode: role of a user not listed in `users`
    users: dict[str, Role] = {}  # local mode: OS login / SOP_PULSE_USER -> role
    emails: dict[str, Role] = {}  # signed in: e-mail -> role (wins over the rest)
    domains: dict[str, Role] = {}  # signed in: e-mail domain -> role
    groups: dict[str, Role] = {}  # signed in: group (from the provider's groups claim) -> role
    groups_claim: str = "groups"
    unknown: Literal["viewer", "refuse"] = "viewer"  # signed in but matched by none of the above
    # An e-mail without an email_verified claim counts as verified (only for providers that send verified addresses
    # alone and no such claim); email_verified false never counts.
    trust_email_without_verified_claim: bool = False


class ForecastSection(_Strict):
    stages: list[str] = Field(default=["naive", "statistical", "sales", "consensus"], min_length=1)
    headline_lag: int = Field(default=1, ge=0)
    season_length: int = Field(default=1, ge=1)
    tracking_window: int = Field(default=6, ge=2)
    tracking_limit: float = Field(default=4.0, gt=0)
    abc: tuple[float, float] = (0.80, 0.95)
    xyz: tuple[float, float] = (0.5, 1.0)


LEVEL_NAMES = ("Reactive", "Defined", "Integrated", "Collaborative", "Orchestrated")


class MaturitySection(_Strict):
    levels: list[str] = Field(default=list(LEVEL_NAMES), min_length=5, max_length=5)
    rubric: dict[str, list[str]] = {}
    targets: dict[str, int] = {}

    @field_validator("levels")
    @classmethod
    def _level_names(cls, v: list[str]) -> list[str]:
        if any(not str(x).strip() for x in v):
            raise ValueError("a level name is empty")
        return v

    @field_validator("targets")
    @classmethod
    def _levels(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k in v if k not in PRACTICES]
        if bad:
            raise ValueError(f"unknown practice(s) {bad}")
        if any(not 1 <= x <= 5 for x in v.values()):
            raise ValueError("levels must be 1-5")
        return v


class Threshold(_Strict):
    """Green/amber limits of one scorecard figure (the figure's direction decides how they read)."""

    green: float
    amber: float


# Scorecard figures and whether a higher value is better (the order of docs/methodology.md, "Executive sponsorship
# scorecard").
SCORECARD_FIGURES: dict[str, bool] = {
    "attendance_rate": True,
    "decision_latency_days": False,
    "pending_decisions": False,
    "sponsored_on_time": True,
    "overdue_sponsored": False,
    "kpis_on_target": True,
    "sponsorship_maturity": True,
}
_DEFAULT_THRESHOLDS = {
    "attendance_rate": Threshold(green=0.9, amber=0.75),
    "decision_latency_days": Threshold(green=14, amber=30),
    "pending_decisions": Threshold(green=0, amber=2),
    "sponsored_on_time": Threshold(green=0.8, amber=0.6),
    "overdue_sponsored": Threshold(green=0, amber=2),
    "kpis_on_target": Threshold(green=0.7, amber=0.5),
    "sponsorship_maturity": Threshold(green=3, amber=2),
}


class SponsorshipSection(_Strict):
    cycle_days: int = Field(default=30, ge=1, le=366)
    thresholds: dict[str, Threshold] = {}

    @field_validator("thresholds")
    @classmethod
    def _known_figures(cls, v: dict[str, Threshold]) -> dict[str, Threshold]:
        bad = [k for k in v if k not in SCORECARD_FIGURES]
        if bad:
            raise ValueError(f"unknown figure(s) {bad}; expected any of {list(SCORECARD_FIGURES)}")
        return v

    def threshold(self, figure: str) -> Threshold:
        """The configured limits of a figure, or the default."""
        return self.thresholds.get(figure, _DEFAULT_THRESHOLDS[figure])


class Executive(_Strict):
    """An executive whose sponsorship is scored; `name` as used for owners, chairs, attendees and sponsors."""

    name: str = Field(min_length=1, max_length=120)
    title: str = ""


@dataclass(frozen=True)
class AppConfig:
    """The validated configuration."""

    path: Path
    app: AppSection
    database: DatabaseSection
    roles: RolesSection
    forecast: ForecastSection
    maturity: MaturitySection
    kpis: tuple[KPI, ...]
    sponsorship: SponsorshipSection = field(default_factory=SponsorshipSection)
    executives: tuple[Executive, ...] = ()
    limits: LimitsSection = field(default_factory=LimitsSection)
    catalog: CatalogSection = field(default_factory=CatalogSection)
    sources: tuple = ()  # kpis.sources.config.SourceConfig, one per [[source]]

    @property
    def kpi_by_id(self) -> dict[str, KPI]:
        return {k.id: k for k in self.kpis}

    def database_url(self) -> str:
        """DATABASE_URL if set, else the configured URL with relative SQLite paths made absolute."""
        url = os.environ.get("DATABASE_URL") or self.database.url
        from kpis import redact

        redact.remember(url)  # no later message shows its password
        return resolve_sqlite_path(url, self.path.parent)


def resolve_sqlite_path(url: str, base: Path) -> str:
    """Make a relative SQLite file path (any sqlite+driver URL) absolute against base."""
    if not url.startswith("sqlite") or url.split("://", 1)[-1].startswith("//"):
        return url  # not SQLite, or already an absolute path: no need to load SQLAlchemy's URL parser
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # not a URL SQLAlchemy can read; the engine will say so
        return url
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" or Path(u.database).is_absolute():
        return url
    return u.set(database=str((base / u.database).resolve())).render_as_string(hide_password=False)


def _loc(item: tuple[Any, ...]) -> str:
    return ".".join(str(p) if p != "from_" else "from" for p in item)


def _section(raw: dict, name: str, model: type[BaseModel], where: str, problems: list[str]) -> Any:
    try:
        return model.model_validate(raw.get(name, {}))
    except ValidationError as e:
        for err in e.errors():
            problems.append(f"{where}: [{name}] field '{_loc(err['loc'])}': {err['msg']}")
        return model()


def _check_kpi(raw: dict, index: int, where: str, problems: list[str]) -> KPI | None:
    """Validate one KPI table; append problems naming the KPI and field."""
    kid = raw.get("id") if isinstance(raw.get("id"), str) else f"#{index + 1}"
    label = f"{where}: KPI '{kid}'"
    try:
        kpi = KPI.model_validate(raw)
    except ValidationError as e:
        for err in e.errors():
            field = _loc(err["loc"]) or "(table)"
            msg = err["msg"]
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = "is not a known field"
            problems.append(f"{label} field '{field}': {msg}")
        return None
    before = len(problems)
    if kpi.direction == "band" and kpi.band is None:
        problems.append(f"{label} field 'band': is required when direction is 'band' (half-width of the green band)")
    if kpi.direction != "band" and kpi.band is not None:
        problems.append(f"{label} field 'band': only applies when direction is 'band'")
    if kpi.source == "forecast" and kpi.forecast_metric is None:
        problems.append(
            f"{label} field 'forecast_metric': is required when source is 'forecast' (accuracy, bias, wape or mape)"
        )
    if kpi.source != "forecast" and (kpi.forecast_metric is not None or kpi.forecast_lag is not None):
        field = "forecast_metric" if kpi.forecast_metric is not None else "forecast_lag"
        problems.append(f"{label} field '{field}': only applies when source is 'forecast'")
    problems += records_problems(kpi, label)
    if kpi.amber > kpi.red:
        problems.append(f"{label} field 'amber': {kpi.amber} must not exceed red ({kpi.red})")
    lo, hi = kpi.value_range
    if lo >= hi:
        problems.append(f"{label} field 'min': {lo} must be below max ({hi})")
    if isinstance(kpi.target, list):
        if not kpi.target:
            problems.append(f"{label} field 'target': the list is empty")
        seen = set()
        for j, step in enumerate(kpi.target):
            try:
                start = periods.parse_from(step.from_, kpi.cadence)
            except periods.PeriodError as exc:
                problems.append(f"{label} field 'target.{j}.from': {exc}")
                continue
            if start in seen:
                problems.append(f"{label} field 'target.{j}.from': two targets start in {step.from_}")
            seen.add(start)
    if len(set(kpi.practices)) != len(kpi.practices):
        problems.append(f"{label} field 'practices': lists a practice twice")
    return kpi if len(problems) == before else None


def _check_rubric(maturity: MaturitySection, where: str, problems: list[str]) -> None:
    """Every rubric entry is a known practice with five non-empty level texts; a rubric covers every practice."""
    if not maturity.rubric:
        return
    for pid, texts in maturity.rubric.items():
        field = f"{where}: [maturity.rubric] field '{pid}'"
        if pid not in PRACTICES:
            problems.append(f"{field}: unknown practice; expected any of {list(PRACTICES)}")
        elif len(texts) != 5:
            problems.append(f"{field}: needs 5 level texts (levels 1 to 5), got {len(texts)}")
        elif any(not t.strip() for t in texts):
            problems.append(f"{field}: level {next(i + 1 for i, t in enumerate(texts) if not t.strip())} text is empty")
    missing = [p for p in PRACTICES if p not in maturity.rubric]
    if missing:
        problems.append(f"{where}: [maturity.rubric] has no level texts for practice(s) {missing}")


def parse_config(raw: dict, where: str = "config.toml", path: Path = DEFAULT_CONFIG) -> AppConfig:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    known = {
        *("app", "database", "roles", "forecast", "maturity", "sponsorship", "executive", "kpi", "limits"),
        *("catalog", "source"),
    }
    for key in raw:
        if key not in known:
            problems.append(f"{where}: unknown section [{key}] (known: {sorted(known)})")
    app = _section(raw, "app", AppSection, where, problems)
    database = _section(raw, "database", DatabaseSection, where, problems)
    limits = _section(raw, "limits", LimitsSection, where, problems)
    catalog = _section(raw, "catalog", CatalogSection, where, problems)
    roles = _section(raw, "roles", RolesSection, where, problems)
    forecast = _section(raw, "forecast", ForecastSection, where, problems)
    maturity = _section(raw, "maturity", MaturitySection, where, problems)
    _check_rubric(maturity, where, problems)
    sponsorship = _section(raw, "sponsorship", SponsorshipSection, where, problems)
    _check_thresholds(raw.get("sponsorship", {}), where, problems)
    executives = _executives(raw.get("executive", []), where, problems)
    from kpis.sources.config import check_sources

    sources = check_sources(raw.get("source"), where, problems)
    if len(set(forecast.stages)) != len(forecast.stages):
        problems.append(f"{where}: [forecast] field 'stages': lists a stage twice")
    for stage in forecast.stages:
        if not stage.strip() or len(stage) > 40:  # forecast.stage holds 40 characters
            problems.append(f"{where}: [forecast] field 'stages': '{stage[:60]}' must be 1 to 40 characters long")
    raw_kpis = raw.get("kpi", [])
    if not isinstance(raw_kpis, list) or not raw_kpis:
        problems.append(f"{where}: no [[kpi]] entries; the catalog needs at least one KPI")
        raw_kpis = []
    kpis: list[KPI] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_kpis):
        if not isinstance(item, dict):
            problems.append(f"{where}: KPI #{i + 1} is not a table")
            continue
        kpi = _check_kpi(item, i, where, problems)
        kid = item.get("id")
        if isinstance(kid, str):
            if kid in seen:
                problems.append(f"{where}: KPI '{kid}' field 'id': duplicate (also KPI #{seen[kid] + 1})")
            seen.setdefault(kid, i)
        if kpi is not None:
            kpis.append(kpi)
    if problems:
        raise ConfigError(problems)
    return AppConfig(
        path=path,
        app=app,
        database=database,
        roles=roles,
        forecast=forecast,
        maturity=maturity,
        kpis=tuple(kpis),
        sponsorship=sponsorship,
        executives=executives,
        limits=limits,
        catalog=catalog,
        sources=sources,
    )


def _check_thresholds(raw: Any, where: str, problems: list[str]) -> None:
    """Green must be the better limit: above amber where higher is better, below where lower is better."""
    tables = raw.get("thresholds", {}) if isinstance(raw, dict) else {}
    for figure, item in tables.items() if isinstance(tables, dict) else []:
        try:
            t = Threshold.model_validate(item)
        except ValidationError:
            continue  # reported with the section
        if figure not in SCORECARD_FIGURES:
            continue
        higher = SCORECARD_FIGURES[figure]
        if (higher and t.amber > t.green) or (not higher and t.amber < t.green):
            word = "above" if higher else "below"
            problems.append(
                f"{where}: [sponsorship] field 'thresholds.{figure}.green': {t.green:g} must be {word} or "
                f"equal to amber ({t.amber:g}) because {'higher' if higher else 'lower'} is better"
            )


def _executives(raw: Any, where: str, problems: list[str]) -> tuple[Executive, ...]:
    """Validate the [[executive]] tables; names must be unique."""
    if not isinstance(raw, list):
        problems.append(f"{where}: [[executive]] must be a list of tables with name and title")
        return ()
    out: list[Executive] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        label = f"{where}: executive #{i + 1}"
        if not isinstance(item, dict):
            problems.append(f"{label} is not a table")
            continue
        try:
            ex = Executive.model_validate(item)
        except ValidationError as e:
            for err in e.errors():
                msg = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(err["type"], err["msg"])
                problems.append(f"{label} field '{_loc(err['loc']) or '(table)'}': {msg}")
            continue
        if ex.name.strip() != ex.name or not ex.name.strip():
            problems.append(f"{label} field 'name': must not start or end with spaces")
            continue
        if ex.name in seen:
            problems.append(f"{label} field 'name': '{ex.name}' is listed twice")
            continue
        seen.add(ex.name)
        out.append(ex)
    return tuple(out)


def load_config(path: str | Path | None = None) -> AppConfig:
    """Read and validate config.toml (SOP_PULSE_CONFIG or the project's file by default)."""
    p = Path(path or os.environ.get("SOP_PULSE_CONFIG") or DEFAULT_CONFIG).resolve()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{p.name}: not valid TOML: {e}"]) from None
    return parse_config(raw, where=p.name, path=p)


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> AppConfig:
    return load_config(path)


def get_config(path: str | Path | None = None) -> AppConfig:
    """Validated configuration, re-read when the file changes."""
    p = Path(path or os.environ.get("SOP_PULSE_CONFIG") or DEFAULT_CONFIG).resolve()
    mtime = p.stat().st_mtime if p.exists() else 0.0
    return _cached(str(p), mtime)
