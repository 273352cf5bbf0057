"""The HMAC that signs CoinPayments IPNs (and our API calls), against the documented vector.

IPN verification end to end (forged, wrong merchant, wrong mode, replayed) is exercised through
the app in tests/blueprints/test_ipn_coinpayments.py.
"""

from __future__ import annotations

from checkout.gateways.coinpayments.notifications import sign


def test_hmac_matches_the_documented_test_vector():
    body = b"currency=BTC&version=1&cmd=get_callback_address&key=your_api_public_key&format=json"

    assert sign(b"test", body) == (
        "5590eac015e7692902e1a9cd5464f1d305a4b593d2f1343d826ac5affc5ac6f9"
        "60a5167284f9bf31295cba0e04df9d8f7087935b5344c468ccf2dd036e159102"
    )
