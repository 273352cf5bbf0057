"""Signals fired after the commit of a winning transition, at most once each.

Best-effort, for in-process listeners (logging, metrics): a process that dies right after the
commit never sends it, and a listener that raises is not retried. Nothing that must happen
after a payment may hang on it; fulfilment is an outbox job written with the transition
(docs/fulfilment.md).
"""

from blinker import Namespace

_signals = Namespace()

#: sent with sender=Payment, order=Order after the one transition into COMPLETED that paid the order
payment_completed = _signals.signal("payment-completed")
