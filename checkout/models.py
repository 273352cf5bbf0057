"""Database tables. Money columns are integer minor units beside a currency code."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .money import Money
from .states import PaymentStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_ref(prefix: str) -> str:
    """An unguessable public reference: holding it is what lets a shopper see a payment."""
    return f"{prefix}_{secrets.token_urlsafe(18)}"


#: Money in minor units, 64-bit: 2**31 coin units (1e-8) are only 21.47 coins. SQLite's INTEGER
#: holds 64 bits already, so it stays INTEGER there and no SQLite table needs rebuilding.
MinorUnits = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the tzinfo otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)  # URL name, from the catalogue file
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(80))  # country or region the plan covers
    data_mb: Mapped[int] = mapped_column(Integer)  # data volume in megabytes
    validity_days: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(MinorUnits)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # shown and sellable

    @property
    def money(self) -> Money:
        return Money(self.price, self.currency)


class OrderStatus:
    OPEN = "OPEN"  # waiting for a payment to complete
    PAID = "PAID"  # one payment completed; fulfilled once


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: new_ref("ord"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    email: Mapped[str] = mapped_column(String(254))  # the shopper's receipt address
    checkout_token: Mapped[str | None] = mapped_column(
        String(64), unique=True
    )  # double-submit guard
    amount: Mapped[int] = mapped_column(MinorUnits)  # minor units, copied from the catalogue
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(8), default=OrderStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_by_payment_id: Mapped[int | None] = mapped_column(Integer)  # the payment that won
    fulfilment_code: Mapped[str | None] = mapped_column(String(255))  # the LPA activation string
    esim_iccid: Mapped[str | None] = mapped_column(String(22))  # the issued eSIM profile's ICCID
    #: why the eSIM could not be issued and a person must act (the provider refused: out of stock)
    fulfilment_problem: Mapped[str | None] = mapped_column(Text)

    product: Mapped[Product] = relationship()
    payments: Mapped[list[Payment]] = relationship(
        back_populates="order", order_by="Payment.id", foreign_keys="Payment.order_id"
    )

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class Payment(db.Model):
    """One attempt to pay one order through one gateway."""

    __tablename__ = "payments"
    __table_args__ = (
        # the sweep pages through one gateway's open payments in id order
        Index("ix_payments_sweep", "gateway", "status", "id"),
        # the staff list's keyset pages (newest first, by amount) and the dashboard's paid days
        Index("ix_payments_created_id", "created_at", "id"),
        Index("ix_payments_amount_id", "amount", "id"),
        Index("ix_payments_completed", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: new_ref("pay"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20), index=True)  # registry name
    amount: Mapped[int] = mapped_column(MinorUnits)  # minor units owed
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        String(12), default=PaymentStatus.CREATED, index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every funnel write
    attempt_token: Mapped[str | None] = mapped_column(
        String(64), unique=True
    )  # double-submit guard
    gateway_reference: Mapped[str | None] = mapped_column(String(128), index=True)  # txn/session id
    gateway_secret: Mapped[str | None] = mapped_column(
        String(128)
    )  # e.g. successIndicator; never shown
    checkout_url: Mapped[str | None] = mapped_column(Text)  # the gateway's hosted page
    gateway_data: Mapped[dict] = mapped_column(
        JSON, default=dict
    )  # public facts: session version ...
    pay_address: Mapped[str | None] = mapped_column(String(128))  # crypto address
    crypto_amount: Mapped[int | None] = mapped_column(MinorUnits)  # coin minor units (1e-8) owed
    crypto_currency: Mapped[str | None] = mapped_column(String(10))
    confirms_received: Mapped[int | None] = mapped_column(Integer)
    confirms_needed: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the gateway's deadline
    # the deadline we give the gateway, decided once before the first create (retries resend it)
    checkout_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_message: Mapped[str | None] = mapped_column(Text)  # the gateway's reason, in words
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)  # staff must look
    review_reason: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # completed after a final status
    refunded_amount: Mapped[int] = mapped_column(MinorUnits, default=0)  # minor units refunded
    last_raw: Mapped[dict | None] = mapped_column(JSON)  # last gateway answer, secrets stripped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last gateway look-up
    next_check_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True
    )  # sweep due time
    failure_count: Mapped[int] = mapped_column(Integer, default=0)  # consecutive transport errors
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # sweep lease
    claimed_by: Mapped[str | None] = mapped_column(String(64))

    order: Mapped[Order] = relationship(back_populates="payments", foreign_keys=[order_id])
    events: Mapped[list[PaymentEvent]] = relationship(
        back_populates="payment", order_by="PaymentEvent.id"
    )

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def crypto_money(self) -> Money | None:
        return Money.known(self.crypto_amount, self.crypto_currency)


class PaymentEvent(db.Model):
    """One entry of a payment's timeline: a transition, a refused one, an error, a flag."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(12))  # create/ipn/return/poll/sweep/staff
    kind: Mapped[str] = mapped_column(String(16))  # transition/refused/error/review/note
    old_status: Mapped[str | None] = mapped_column(String(12))
    new_status: Mapped[str | None] = mapped_column(String(12))
    raw_status: Mapped[str | None] = mapped_column(String(64))  # the gateway's own word
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)

    payment: Mapped[Payment] = relationship(back_populates="events")


class Notification(db.Model):
    """A gateway notification as received, stored once per gateway event id."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("gateway", "event_id", name="uq_notification_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(128))  # ipn_id / X-Notification-Id / evt_...
    event_type: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(24))  # processed/unknown_payment/ignored/error
    payload: Mapped[dict | None] = mapped_column(JSON)  # parsed body, secrets stripped


class StaffRole:
    SUPPORT = "support"  # view, refresh, notes, resolve reviews
    ADMIN = "admin"  # also refunds and staff users


class StaffUser(db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    role: Mapped[str] = mapped_column(String(16), default=StaffRole.SUPPORT)  # a StaffRole
    #: bumped when the user is deactivated or changes role: older sessions stop working
    session_version: Mapped[int] = mapped_column(Integer, default=0)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class SweepRun(db.Model):
    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # scheduler/cli/url/test
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    gateway_calls: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict | None] = mapped_column(JSON)


class JobState:
    PENDING = "pending"  # waiting for its next attempt
    RUNNING = "running"  # leased by a worker until lease_until
    DONE = "done"
    DEAD = "dead"  # gave up: refused, or out of attempts; a person must look


class OutboxJob(db.Model):
    """Work that must follow a paying transition, written in the same transaction.

    Delivered by the outbox worker with retries, so a crash after "paid" never loses it. `key`
    makes each job unique ("issue_esim:<order ref>"): writing it twice is harmless.
    """

    __tablename__ = "outbox_jobs"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # kind:order ref[:detail]
    kind: Mapped[str] = mapped_column(String(32))  # issue_esim / send_receipt / ...
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what the kind needs besides
    state: Mapped[str] = mapped_column(String(8), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker's claim
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()


class AuditEntry(db.Model):
    """One staff action: who, when, what, on what, from where. Written, never changed."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    staff_email: Mapped[str] = mapped_column(String(254))  # as it was at the time
    action: Mapped[str] = mapped_column(String(32))  # login / refund / resolve / note / ...
    target: Mapped[str | None] = mapped_column(String(254))  # a payment ref, a staff e-mail
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BreakerState:
    CLOSED = "closed"  # creates go through; outcomes are counted
    OPEN = "open"  # refused until open_until; then one probe at a time (half-open)


class Forced:
    ON = "on"  # offered whatever the breaker says
    OFF = "off"  # not offered; forced_reason is shown to shoppers


class GatewayBreaker(db.Model):
    """One gateway's circuit breaker, shared by every worker through the database.

    Written only with conditional UPDATEs (payments/breaker.py), so concurrent workers count
    every outcome and exactly one of them claims the half-open probe. No row means closed and
    not forced: rows are created on the first outcome or staff override.
    """

    __tablename__ = "gateway_breakers"

    gateway: Mapped[str] = mapped_column(String(20), primary_key=True)  # registry name
    state: Mapped[str] = mapped_column(String(8), default=BreakerState.CLOSED)  # a BreakerState
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)  # transient, in a row
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # current window
    window_calls: Mapped[int] = mapped_column(Integer, default=0)  # counted creates in it
    window_failures: Mapped[int] = mapped_column(Integer, default=0)  # transient failures in it
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it last opened
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # end of the cool-down
    probe_token: Mapped[str | None] = mapped_column(String(64))  # the probe's attempt token
    probe_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the probe's lease
    forced: Mapped[str | None] = mapped_column(String(3))  # a Forced value, or automatic
    forced_reason: Mapped[str | None] = mapped_column(String(200))  # why, in staff's words
    forced_by: Mapped[str | None] = mapped_column(String(254))  # staff e-mail
    forced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
