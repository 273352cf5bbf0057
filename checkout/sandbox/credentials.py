"""The demo credentials the sandbox accepts: each gateway's own sandbox values.

They are declared beside each gateway's settings (production must never import the sandbox, so
the site's sandbox plan cannot live here) and are public on purpose: the sandbox moves no money,
and production refuses to start with TOLLGATE_SANDBOX_URL set.
"""

from ..gateways.coinpayments.settings import SANDBOX as COINPAYMENTS
from ..gateways.mpgs.settings import SANDBOX as MPGS
from ..gateways.stripe.settings import SANDBOX as STRIPE

__all__ = ["COINPAYMENTS", "MPGS", "STRIPE"]
