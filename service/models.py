"""ORM models: recording sessions and their events.

Types are chosen to mean the same on SQLite and PostgreSQL: ``Uuid``, UTC datetimes, ``JSON``.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
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
