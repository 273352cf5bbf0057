"""What a card submitted on the hosted page does to the order: pay, or 3-D Secure first.

Each step adds its transaction record and sends it as a webhook, as the gateway does for every
transaction. The answer is whether the payment was approved; hosted.py sends the payer back.
"""

from __future__ import annotations

from . import notify
from .cards import TEST_CARDS
from .store import CheckoutSessionState, MpgsStore

_OPERATION_TXN = {"PURCHASE": "PAYMENT", "AUTHORIZE": "AUTHORIZATION", "VERIFY": "VERIFICATION"}
_OPERATION_STATUS = {"PURCHASE": "CAPTURED", "AUTHORIZE": "AUTHORIZED", "VERIFY": "VERIFIED"}


def pay(store: MpgsStore, session: CheckoutSessionState, number: str, gateway_code: str) -> bool:
    """Run the session's operation with the card; True when approved."""
    operation = session.interaction.get("operation", "PURCHASE")
    approved = gateway_code == "APPROVED"
    with store.lock:
        order = store.start_order(session, number)
        amount = order.amount
        if approved:
            order.status = _OPERATION_STATUS.get(operation, "CAPTURED")
            if operation == "PURCHASE":
                order.authorized += amount
                order.captured += amount
            elif operation == "AUTHORIZE":
                order.authorized += amount
        else:
            order.status = "FAILED"
        record = store.add_transaction(
            order,
            txn_id=store.next_txn_id(order),
            txn_type=_OPERATION_TXN.get(operation, "PAYMENT"),
            result="SUCCESS" if approved else "FAILURE",
            gateway_code=gateway_code,
            amount=amount,
        )
    notify.send(store.env, order, record)
    return approved


def start_challenge(store: MpgsStore, session: CheckoutSessionState, number: str) -> None:
    """Hold the card while the payer answers the 3-D Secure page."""
    with store.lock:
        order = store.start_order(session, number)
        order.status = "AUTHENTICATION_INITIATED"
        order.authentication_status = "AUTHENTICATION_PENDING"
        record = store.add_transaction(
            order,
            txn_id=store.next_txn_id(order),
            txn_type="AUTHENTICATION",
            result="PENDING",
            gateway_code="PENDING",
            amount=order.amount,
        )
        session.challenge_card = number
    notify.send(store.env, order, record)


def finish_challenge(store: MpgsStore, session: CheckoutSessionState, passed: bool) -> bool:
    """Record the authentication outcome, then pay with the held card if it passed."""
    number = session.challenge_card or ""
    session.challenge_card = None
    with store.lock:
        order = store.orders[session.order["id"]]
        order.status = "AUTHENTICATED" if passed else "AUTHENTICATION_UNSUCCESSFUL"
        order.authentication_status = (
            "AUTHENTICATION_SUCCESSFUL" if passed else "AUTHENTICATION_FAILED"
        )
        record = store.add_transaction(
            order,
            txn_id=store.next_txn_id(order),
            txn_type="AUTHENTICATION",
            result="SUCCESS" if passed else "FAILURE",
            gateway_code="APPROVED" if passed else "DECLINED",
            amount=order.amount,
        )
    notify.send(store.env, order, record)
    if not passed:
        return False
    return pay(store, session, number, TEST_CARDS.get(number, ("", "APPROVED"))[1])
