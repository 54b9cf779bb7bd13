"""SQLAlchemy 2 models for every record S&OP Pulse keeps.

Every row carries who created and last changed it and when; every write also appends an
AuditEvent (kpis.store.audit), which is the history and the data version for caches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids that still autoincrement on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    """Timezone-aware UTC now, for every stamp."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Stamped:
    """Who created and last changed a row, and when (UTC)."""

    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(120))


class AuditEvent(Base):
    """Append-only log of every write: who, when, what."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))  # create, update, delete, import, config
    entity: Mapped[str] = mapped_column(String(40))  # table name
    entity_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Person(Base):
    """The people directory: who a stored key (created_by, the audit actor) is, for showing it. Written at sign-in
    (kpis.access.people) from the identity provider's claims; a name is only shown, never compared."""

    __tablename__ = "person"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)  # oidc:<iss>|<sub> (kpis.access.identity)
    name: Mapped[str] = mapped_column(String(200))  # display name, as the provider sends it (cleaned)
    email: Mapped[str | None] = mapped_column(String(320))  # the verified e-mail address (folded), else NULL
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Kpi(Base):
    """A KPI as last synced from the catalog in config.toml (kept when removed: active=False)."""

    __tablename__ = "kpi"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    function: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    cadence: Mapped[str] = mapped_column(String(10))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    synced_by: Mapped[str] = mapped_column(String(120))


class ImportBatch(Base):
    """One file loaded into the database and what it changed."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # actuals, demand, forecasts
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_in_file: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class KpiValue(Stamped, Base):
    """One actual of a KPI for a period and segment ('' = the company total)."""

    __tablename__ = "kpi_value"
    __table_args__ = (
        UniqueConstraint("kpi_id", "segment", "period", name="uq_kpi_value_key"),
        Index("ix_kpi_value_kpi_period", "kpi_id", "period"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kpi_id: Mapped[str] = mapped_column(ForeignKey("kpi.id"))
    segment: Mapped[str] = mapped_column(String(80), default="")
    period: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))


# --- Forecast accuracy data (docs/methodology.md) ----------------------------------------


class Item(Stamped, Base):
    """A demand item (SKU) and its attributes (family, region, channel, ...)."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DemandActual(Base):
    """Actual demand of an item in a period."""

    __tablename__ = "demand_actual"
    __table_args__ = {"sqlite_with_rowid": False}  # one b-tree in primary-key order (migration 0008)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    actual: Mapped[float] = mapped_column(Float)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))


class ForecastValue(Base):
    """A forecast snapshot: item, target period, lag (periods ahead) and process stage."""

    __tablename__ = "forecast"
    __table_args__ = (
        CheckConstraint("lag >= 0", name="lag_non_negative"),
        {"sqlite_with_rowid": False},
    )  # one b-tree in primary-key order (migration 0008)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    lag: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    forecast: Mapped[float] = mapped_column(Float)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))


# --- Integration maturity (docs/methodology.md) -----------------------------------------


class Assessment(Stamped, Base):
    """One respondent's maturity scores for a quarter."""

    __tablename__ = "assessment"
    # One assessment per respondent and quarter: answering again replaces it (migration 0003).
    __table_args__ = (Index("uq_assessment_period_respondent", "period", "respondent", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[dt.date] = mapped_column(Date, index=True)  # quarter start
    respondent: Mapped[str] = mapped_column(String(120))
    team: Mapped[str] = mapped_column(String(120))
    function: Mapped[str] = mapped_column(String(20))
    comments: Mapped[str | None] = mapped_column(Text)


class AssessmentScore(Base):
    """A practice score (1-5) in an assessment; NULL means "don't know"."""

    __tablename__ = "assessment_score"
    __table_args__ = (CheckConstraint("score IS NULL OR (score BETWEEN 1 AND 5)", name="score_range"),)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"), primary_key=True)
    practice: Mapped[str] = mapped_column(String(20), primary_key=True)
    score: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)


# --- Post-implementation reviews and improvement actions (docs/methodology.md) -----------


class Review(Stamped, Base):
    """A post-implementation review (PIR) of an initiative."""

    __tablename__ = "review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    initiative: Mapped[str] = mapped_column(String(200))
    practices: Mapped[list[str]] = mapped_column(JSON, default=list)
    review_date: Mapped[dt.date] = mapped_column(Date)
    period: Mapped[dt.date | None] = mapped_column(Date)
    team: Mapped[str] = mapped_column(String(120))
    facilitator: Mapped[str] = mapped_column(String(120))
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    objectives: Mapped[str] = mapped_column(Text, default="")
    planned: Mapped[str] = mapped_column(Text, default="")
    happened: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    root_cause_method: Mapped[str] = mapped_column(String(20), default="5 whys")  # 5 whys, fishbone, other
    went_well: Mapped[str] = mapped_column(Text, default="")
    to_improve: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    benefits: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int] = mapped_column(SmallInteger)
    # draft (visible to its author only) or submitted; submitted reviews can be amended (audited).
    status: Mapped[str] = mapped_column(String(10), default="submitted", server_default="submitted")
    submitted_by: Mapped[str | None] = mapped_column(String(120))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Checked in every UPDATE (kpis.store.versions): a save from a form opened before another save is refused.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)
    __mapper_args__ = {"version_id_col": version}


class ReviewKpi(Base):
    """A KPI a review looked at, with baseline, target and actual."""

    __tablename__ = "review_kpi"
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), primary_key=True)
    kpi_id: Mapped[str] = mapped_column(ForeignKey("kpi.id"), primary_key=True)
    baseline: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    actual: Mapped[float | None] = mapped_column(Float)
    baseline_period: Mapped[dt.date | None] = mapped_column(Date)
    actual_period: Mapped[dt.date | None] = mapped_column(Date)


class Meeting(Stamped, Base):
    """A meeting of the S&OP cycle."""

    __tablename__ = "meeting"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)  # the organisation's own meeting id
    type: Mapped[str] = mapped_column(
        String(30)
    )  # data review, demand review, supply review, reconciliation, executive S&OP
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    chair: Mapped[str] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # see kpis.store.versions
    __mapper_args__ = {"version_id_col": version}


class MeetingAttendee(Base):
    """Who was invited to a meeting and whether they attended."""

    __tablename__ = "meeting_attendee"
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    person: Mapped[str] = mapped_column(String(120), primary_key=True)
    invited: Mapped[bool] = mapped_column(Boolean, default=True)
    attended: Mapped[bool] = mapped_column(Boolean, default=False)


class Decision(Stamped, Base):
    """A decision raised in the S&OP cycle; decided_on empty = pending."""

    __tablename__ = "decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)  # the organisation's own decision id
    text: Mapped[str] = mapped_column(Text)
    raised_on: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(120))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"))
    kpi_id: Mapped[str | None] = mapped_column(ForeignKey("kpi.id"))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("action.id", use_alter=True))


class Action(Stamped, Base):
    """An improvement action: owner, sponsor, due date, status and whether it worked."""

    __tablename__ = "action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20))  # corrective, preventive, improvement
    source: Mapped[str] = mapped_column(String(20))  # pir, kpi_exception, meeting_decision, other
    review_id: Mapped[int | None] = mapped_column(ForeignKey("review.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"))
    source_note: Mapped[str | None] = mapped_column(String(255))
    practice: Mapped[str] = mapped_column(String(20))
    kpi_id: Mapped[str | None] = mapped_column(ForeignKey("kpi.id"))
    segment: Mapped[str] = mapped_column(String(80), default="", server_default="")  # '' = the KPI's total
    expected_direction: Mapped[str | None] = mapped_column(String(10))  # higher, lower
    ref: Mapped[str | None] = mapped_column(String(60), unique=True)  # the organisation's own action number
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    owner: Mapped[str] = mapped_column(String(120))
    sponsor: Mapped[str | None] = mapped_column(String(120))
    priority: Mapped[str] = mapped_column(String(10), default="medium")  # high, medium, low
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date)
    verdict: Mapped[str | None] = mapped_column(String(20))
    verdict_figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # frozen with the verdict
    verified_by: Mapped[str | None] = mapped_column(String(120))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(
            "status IN ('open','in progress','done','verified','not effective','cancelled')", name="status_known"
        ),
    )
    __mapper_args__ = {"version_id_col": version}  # see kpis.store.versions


class KpiComment(Stamped, Base):
    """What happened to a KPI in a period (and segment), why, and what is being done: one comment per KPI, segment
    and period, written by the KPI's owner or an editor, edited with a version check (kpis.commentary)."""

    __tablename__ = "kpi_comment"
    __table_args__ = (UniqueConstraint("kpi_id", "segment", "period", name="uq_kpi_comment_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kpi_id: Mapped[str] = mapped_column(ForeignKey("kpi.id"))
    segment: Mapped[str] = mapped_column(String(80), default="", server_default="")  # '' = the KPI's total
    period: Mapped[dt.date] = mapped_column(Date)  # start of the KPI's own period
    author: Mapped[str] = mapped_column(String(120))  # the name shown with the comment
    text: Mapped[str] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("action.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}  # see kpis.store.versions


ACTION_STATUSES = ("open", "in progress", "done", "verified", "not effective", "cancelled")
OPEN_ACTION_STATUSES = ("open", "in progress")  # an open action: not completed and not cancelled
MEETING_TYPES = ("data review", "demand review", "supply review", "reconciliation", "executive S&OP")
_ = func  # re-exported for callers building queries


class SourceRun(Base):
    """One run of a [[source]] (kpis.sources): when, its result, what it changed, its problems, the files read."""

    __tablename__ = "source_run"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(60), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20))  # ok, unchanged, refused, unreachable, busy
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(120))


class SourceFile(Base):
    """A file a path source has imported (its content digest): a glob reads only the files not imported yet."""

    __tablename__ = "source_file"
    source: Mapped[str] = mapped_column(String(60), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SourceLock(Base):
    """A source being run: the row is the lock (its primary key refuses a second one, on every database and across
    processes and replicas); a lock older than `expires_at` is taken over."""

    __tablename__ = "source_lock"
    source: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
