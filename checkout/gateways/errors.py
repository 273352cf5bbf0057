"""What a gateway call can raise, split by what the caller must do (see base.py)."""


class GatewayError(Exception):
    """Base for everything a gateway call can raise."""


class GatewayUnavailable(GatewayError):
    """Transient: try again later. Never turns a payment FAILED."""


class GatewayConfigError(GatewayError):
    """Our credentials or settings are wrong. Needs a person, not a retry loop."""


class GatewayRejected(GatewayError):
    """The gateway refused the request itself (e.g. a validation error on create)."""


class InvalidNotification(GatewayError):
    """A notification whose signature or origin does not verify. It must change nothing."""


class NotSupported(GatewayError):
    """The gateway has no API for this operation."""
