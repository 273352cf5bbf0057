"""The provider's orders, keyed by the merchant's reference, and its stock, in memory."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..common import UPPER_ALNUM, random_id
from ..env import SandboxEnv

NAME = "esim"
SMDP_ADDRESS = "rsp.sandbox-esim.test"  # the SM-DP+ server a phone downloads the profile from
_ICCID_PREFIX = "8944"  # 89: telecom; 44: the issuer's country code


@dataclass(frozen=True)
class ProviderOrder:
    id: str
    reference: str
    plan: str
    created: str
    iccid: str
    matching_id: str

    def body(self) -> dict[str, Any]:
        """The order as the API answers it."""
        return {
            "data": {
                "id": self.id,
                "reference": self.reference,
                "plan": self.plan,
                "quantity": 1,
                "status": "completed",
                "created_at": self.created,
                "esims": [
                    {
                        "iccid": self.iccid,
                        "smdp_address": SMDP_ADDRESS,
                        "matching_id": self.matching_id,
                        "lpa": f"LPA:1${SMDP_ADDRESS}${self.matching_id}",
                    }
                ],
            }
        }


class EsimStore:
    """Orders by reference, the eSIMs bought per reference and the plans out of stock."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.lock = threading.RLock()
        self.orders: dict[str, ProviderOrder] = {}  # reference -> the order made for it
        self.bought: Counter[str] = Counter()  # reference -> eSIMs sold (never more than 1)
        self.out_of_stock: set[str] = set()
        self.forced: list[tuple[int, str, str]] = []  # (status, body, content type), one-shot

    def reset(self) -> None:
        with self.lock:
            self.orders.clear()
            self.bought.clear()
            self.out_of_stock.clear()
            self.forced.clear()

    def buy(self, reference: str, plan: str) -> ProviderOrder:
        """Sell one eSIM of `plan` for `reference`; the caller has checked stock and replays."""
        with self.lock:
            order = ProviderOrder(
                id=random_id("eso_", 16),
                reference=reference,
                plan=plan,
                created=self.env.clock.now().isoformat(timespec="seconds"),
                iccid=new_iccid(),
                matching_id="-".join(random_id("", 5, UPPER_ALNUM) for _ in range(3)),
            )
            self.orders[reference] = order
            self.bought[reference] += 1
            return order


def new_iccid() -> str:
    """19 digits, the last a Luhn check digit, as on a real profile."""
    body = _ICCID_PREFIX + "".join(str(secrets.randbelow(10)) for _ in range(14))
    return body + _luhn_digit(body)


def _luhn_digit(digits: str) -> str:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)
