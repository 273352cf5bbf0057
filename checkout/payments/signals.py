"""Signals fired after the commit of a winning transition, exactly once each."""

from blinker import Namespace

_signals = Namespace()

#: sent with sender=Payment, order=Order after the one transition into COMPLETED that paid the order
payment_completed = _signals.signal("payment-completed")
