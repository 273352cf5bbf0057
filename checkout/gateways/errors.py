"""What a gateway call can raise, split by what the caller must do (see base.py)."""


class GatewayError(Exception):
    """Base for everything a gateway call can raise."""


class GatewayUnavailable(GatewayError):
    """Transient: try again later. Never turns a payment FAILED."""


class GatewayRateLimited(GatewayUnavailable):
    """The gateway answered 429: we asked too often, nothing is wrong with the payment.

    Transient like its parent (callers that only know GatewayUnavailable back off as usual), but
    it says something about the gateway's budget, not about its health: the sweep pauses that
    gateway's look-ups for `retry_after` seconds (the gateway's Retry-After header, or None when
    it gave none and the caller picks its own back-off), and counts it apart from real outages so
    it never alarms as a gateway error.
    """

    def __init__(self, message: str = "rate limited", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GatewayConfigError(GatewayError):
    """Our credentials or settings are wrong. Needs a person, not a retry loop."""


class GatewayRejected(GatewayError):
    """The gateway refused the request itself (e.g. a validation error on create)."""


class InvalidNotification(GatewayError):
    """A notification whose signature or origin does not verify. It must change nothing."""


class NotSupported(GatewayError):
    """The gateway has no API for this operation."""
