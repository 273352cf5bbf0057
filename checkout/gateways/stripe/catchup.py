"""The sweep's Stripe look-ups from Stripe's own list of Checkout Sessions (docs/stripe.md).

One `GET /v1/checkout/sessions` page shows up to 100 sessions, expanded with their payment
intents, so it answers for up to 100 payments in one request where a retrieve answers for one.
For a batch of payments the list is asked for the sessions created in the batch's range of
creation times (`created[gte]` / `created[lte]`, exact when the create recorded Stripe's own
`created`), newest first, 100 a page, following `starting_after` while `has_more` and stopping
as soon as every session of the batch has been seen. Every state is listed (no `status`
filter): a session found is decided from its list object by the same `observe_session` a
retrieve goes through; only a session the pages never showed, or one whose payment intent came
back unexpanded (a complete but unpaid session needs it), is left to an individual retrieve.

Pages are remembered for a few seconds (`Ledger`), so the batches of one sweep run whose
sessions share a creation second (a sale's burst, a load test's copies) read each page once,
and one scan runs at a time per process: a batch waiting for it usually finds its sessions in
the pages the scan before it read. A remembered session answers only for a payment whose last
look-up was recorded before the page was read, so the next sweep run always reads afresh.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..base import Observation
from .statuses import observe_session

if TYPE_CHECKING:
    from ...models import Payment

PAGE_SIZE = 100  # the most Stripe's list answers in one page
EXPAND = ["data.payment_intent"]  # list expansions start with `data.`
#: a session created before we recorded Stripe's `created` is looked for this far around our row
MARGIN_SECONDS = 300
#: how long a listed session stands in for a retrieve (well under the sweep interval)
FRESH_SECONDS = 20.0
#: how many listed sessions are remembered at most (the oldest are forgotten first)
REMEMBERED = 2000

ListPage = Callable[[dict[str, Any]], Mapping[str, Any]]


def created_range(payment: Payment) -> tuple[int, int]:
    """The earliest and latest Stripe `created` (Unix seconds) the payment's session can have."""
    exact = (payment.gateway_data or {}).get("session_created")
    if isinstance(exact, int) and not isinstance(exact, bool):
        return exact, exact
    ours = int(payment.created_at.timestamp())
    return ours - MARGIN_SECONDS, ours + MARGIN_SECONDS


def decided(session: Mapping[str, Any]) -> bool:
    """Whether a listed session says all a retrieve would: its payment intent came expanded.

    An intent left as a bare id (the expansion was not honoured) hides whether a complete but
    unpaid debit failed, and whether an open session's shopper is still inside a payment.
    """
    return not isinstance(session.get("payment_intent"), str)


def last_look(payment: Payment) -> float:
    """When the payment's last look-up was recorded (Unix time); 0 if it never was."""
    checked = payment.last_checked_at
    return checked.timestamp() if checked is not None else 0.0


class Ledger:
    """Sessions seen on list pages lately, as the observations they read as; thread-safe."""

    def __init__(self, fresh_seconds: float = FRESH_SECONDS, size: int = REMEMBERED) -> None:
        self.fresh_seconds = fresh_seconds
        self.size = size
        self._lock = threading.Lock()
        # session id -> (when listed: Unix time, monotonic time; what it reads as)
        self._seen: OrderedDict[str, tuple[float, float, Observation]] = OrderedDict()

    def keep(self, sessions: Iterable[Mapping[str, Any]]) -> None:
        wall, now = time.time(), time.monotonic()
        with self._lock:
            for session in sessions:
                if decided(session) and isinstance(session.get("id"), str):
                    self._seen[session["id"]] = (wall, now, observe_session(session))
                    self._seen.move_to_end(session["id"])
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def take(self, since: Mapping[str, float]) -> dict[str, Observation]:
        """The observations of the sessions in `since` listed after it says, and still fresh."""
        oldest = time.monotonic() - self.fresh_seconds
        with self._lock:
            found = {}
            for session_id, after in since.items():
                entry = self._seen.get(session_id)
                if entry is not None and entry[0] > after and entry[1] >= oldest:
                    found[session_id] = entry[2]
            return found


class CatchUp:
    """Finds a batch's sessions in Stripe's list; `list_page` asks for one page."""

    def __init__(self, list_page: ListPage, ledger: Ledger | None = None) -> None:
        self.list_page = list_page
        self.ledger = ledger or Ledger()
        self._scanning = threading.Lock()

    def observations(self, payments: Iterable[Payment]) -> dict[str, Observation]:
        """Session id -> observation for the payments' sessions the list decides.

        Sessions left out of the answer need a retrieve. Errors of the list call (GatewayError)
        are the caller's.
        """
        since = {p.gateway_reference: last_look(p) for p in payments if p.gateway_reference}
        wanted = {p.gateway_reference: created_range(p) for p in payments if p.gateway_reference}
        found = self.ledger.take(since)
        if len(found) == len(since):
            return found
        with self._scanning:
            found.update(self.ledger.take({s: t for s, t in since.items() if s not in found}))
            missing = {sid: span for sid, span in wanted.items() if sid not in found}
            if missing:
                self._scan(missing)
                found.update(self.ledger.take({sid: since[sid] for sid in missing}))
        return found

    def _scan(self, missing: Mapping[str, tuple[int, int]]) -> None:
        """Page through the range of `missing` until each was seen or the list ends."""
        params: dict[str, Any] = {
            "created": {
                "gte": min(low for low, _ in missing.values()),
                "lte": max(high for _, high in missing.values()),
            },
            "limit": PAGE_SIZE,
            "expand": EXPAND,
        }
        unseen = set(missing)
        while unseen:
            page = self.list_page(params)
            sessions = list(page.get("data") or [])
            self.ledger.keep(sessions)
            unseen.difference_update(s.get("id") for s in sessions)
            if not page.get("has_more") or not sessions:
                return
            params["starting_after"] = sessions[-1]["id"]
