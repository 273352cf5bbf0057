"""What happens when an order is paid: the outbox jobs that issue the eSIM and e-mail the receipt.

The paying transition writes the order's issue_esim job in the transaction that claims the order
(payments/service.py); `outbox` delivers it and its follow-ups with retries, so a crash between
"paid" and "delivered" delays the delivery and never loses it (docs/fulfilment.md). Handlers
register themselves on `jobs.HANDLERS` when their module is imported, which `connect` does.
"""

from __future__ import annotations


def connect() -> None:
    """Register the job handlers (called by create_app): importing a module registers its own."""
    from . import esim, receipts  # noqa: F401 - each registers its handlers
