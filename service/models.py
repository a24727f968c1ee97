"""ORM models: recording sessions and their events, and the alert outbox.

Types are chosen to mean the same on SQLite and PostgreSQL: ``Uuid``, UTC datetimes, ``JSON``.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Named constraints keep migrations reproducible and let SQLite batch migrations find them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that is always UTC, on every backend.

    SQLite stores no offset and hands back naive values; normalising to UTC on the way in and
    labelling UTC on the way out keeps comparisons and ordering right there too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RecordingSession(Base):
    """A browsing session; ``stopped_at`` is the single source of its status."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id_started_at", "user_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept in the same transaction as the inserts, so listings need no COUNT over events.
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def status(self) -> Literal["active", "stopped"]:
        return "active" if self.stopped_at is None else "stopped"


class Event(Base):
    """One browsing event; ``occurred_at`` is the extension's clock, ``received_at`` the server's."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_session_id_occurred_at_id", "session_id", "occurred_at", "id"),)

    # SQLite only auto-increments an INTEGER PRIMARY KEY; the id breaks ties between equal timestamps.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class StoredAlert(Base):
    """An alert as first stored (the outbox), folded with its duplicates within the cooldown."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_fingerprint_last_seen_at", "fingerprint", "last_seen_at"),
        Index("ix_alerts_first_seen_at", "first_seen_at"),
        # An Alertmanager notification is identified by its alert fingerprint and start time: a replay
        # finds the row instead of adding one.
        Index("uq_alerts_external_key", "external_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    fingerprint: Mapped[str] = mapped_column(String(64))
    external_key: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(100))
    route: Mapped[str | None] = mapped_column(String(500))
    exception_type: Mapped[str | None] = mapped_column(String(300))
    stacktrace: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    trace_url: Mapped[str | None] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deliveries: Mapped[list["AlertDelivery"]] = relationship(order_by="AlertDelivery.channel", lazy="selectin")


class AlertDelivery(Base):
    """One alert's delivery to one channel; pending rows are what the dispatcher retries."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
