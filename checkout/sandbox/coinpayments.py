"""Emulator of the CoinPayments legacy API (`POST /api.php`) and its hosted checkout page.

Faithful to shared/protocols.md section A, not to our client: the HMAC is checked over the raw
body bytes as received (chunked bodies too), errors are HTTP 200 envelopes
`{"error": "...", "result": []}`, numbers are typed as the real API types them (strings for
`amount` and `confirms_needed`, integers for `timeout` and the `get_tx_info` counters), and IPNs
are form-encoded, HMAC-signed with the IPN secret and retried by `env.notifier`.

The hosted page (`/index.php?cmd=checkout&id=..&key=..`) lets a person or a test "send" the full
amount, too little, or too late, let the timer run out, and add confirmations one by one. Time
comes from `env.clock`; expiry is evaluated whenever a transaction is touched (an API call, a
page view, an action). Sandbox-only settings live at `/_sandbox/coinpayments/settings`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import string
import threading
from dataclasses import asdict, dataclass, field, fields
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request

from . import credentials
from .env import SandboxEnv

log = logging.getLogger(__name__)

ACCOUNT = credentials.COINPAYMENTS
MULTI_LIMIT = 25
SATOSHI = Decimal("0.00000001")

# Demo prices: USD per coin, and units of each fiat currency per USD.
COIN_USD = {
    "BTC": Decimal("65000"),
    "LTC": Decimal("80"),
    "LTCT": Decimal("80"),  # CoinPayments' Litecoin test coin
    "ETH": Decimal("3200"),
    "BCH": Decimal("400"),
    "DOGE": Decimal("0.15"),
    "DASH": Decimal("30"),
    "XRP": Decimal("0.6"),
    "TRX": Decimal("0.12"),
    "USDT": Decimal("1"),
    "USDC": Decimal("1"),
}
FIAT_PER_USD = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "CHF": Decimal("0.88"),
    "SAR": Decimal("3.75"),
    "AED": Decimal("3.6725"),
    "KWD": Decimal("0.307"),
    "BHD": Decimal("0.376"),
    "JOD": Decimal("0.709"),
    "JPY": Decimal("150"),
    "KRW": Decimal("1350"),
    "INR": Decimal("83"),
    "TRY": Decimal("32"),
    "EGP": Decimal("48"),
}
TAG_COINS = frozenset({"XRP"})  # coins that need a destination tag

ERR_NO_HMAC = "No HMAC signature sent."
ERR_BAD_KEY = "Invalid API public key passed!"
ERR_BAD_HMAC = "HMAC signature does not match"
ERR_VERSION = "Invalid API version - only version 1 is supported!"
ERR_COMMAND = "Invalid command!"
ERR_PERMISSION = "This API Key does not have permission to use that command!"
ERR_PAYMENT_ID = "Invalid payment ID!"

STATUS_TEXT = {
    0: "Waiting for buyer funds...",
    1: "Funds received and confirmed, sending to you shortly...",
    100: "Complete",
    -1: "Cancelled / Timed Out",
}
ACTIONS = {
    "send_full": "Sent the full amount",
    "send_short": "Sent too little",
    "confirm": "Added a confirmation",
    "expire": "Let the timer run out",
    "send_late": "Sent the coins too late",
}


@dataclass
class Settings:
    """Sandbox-only behaviour of the emulated account (reset between tests)."""

    timeout: int = 3600  # seconds a buyer has to pay (the API's `timeout`)
    confirms_needed: int = 2
    auto_confirm_seconds: float = 0.0  # > 0: one confirmation per this many seconds
    short_percent: int = 50  # share of what is still due that "Send too little" sends
    stringify_numbers: bool = False  # answer "status": "0" like some live responses
    denied_commands: list[str] = field(default_factory=list)  # -> the permission error

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}")
            current = getattr(self, key)
            if isinstance(current, list):
                setattr(self, key, [str(v) for v in value])
            elif isinstance(current, bool):
                setattr(self, key, value in (True, 1, "1", "true", "on", "yes"))
            else:
                setattr(self, key, type(current)(value))


@dataclass
class Txn:
    txn_id: str
    key: str  # the 32-hex key in checkout_url / status_url
    created: int
    timeout: int
    amount1: str  # as the merchant sent it
    currency1: str
    currency2: str
    due: int  # 1e-8 units of currency2
    confirms_needed: int
    address: str
    dest_tag: str | None
    buyer_email: str
    extra: dict[str, str]  # buyer_name, item_name, item_number, invoice, custom
    ipn_url: str
    success_url: str
    cancel_url: str
    status: int = 0
    received: int = 0
    confirms: int = 0
    received_at: int | None = None
    completed: int | None = None
    send_tx: str | None = None

    @property
    def expires(self) -> int:
        return self.created + self.timeout

    @property
    def status_text(self) -> str:
        text = STATUS_TEXT.get(self.status, "Unknown")
        if self.status == 0 and self.received:
            return f"{text} ({_f8(self.received)}/{_f8(self.due)} {self.currency2} received)"
        return text


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.txns: dict[str, Txn] = {}
        self.settings = Settings()

    def clear(self) -> None:
        with self.lock:
            self.txns = {}
            self.settings = Settings()


def register(app: Flask, env: SandboxEnv) -> None:
    store = Store()
    env.on_reset(store.clear)
    app.extensions["sandbox_coinpayments"] = store
    bp = Blueprint("sandbox_coinpayments", __name__)

    def notify(txn: Txn) -> None:
        """Queue one signed IPN describing `txn` now (call with the store lock held)."""
        knobs = env.knobs["coinpayments"]
        if not knobs.notifications or not txn.ipn_url:
            return
        body = urlencode(ipn_fields(txn)).encode()
        signature = hmac.new(ACCOUNT["ipn_secret"].encode(), body, hashlib.sha512).hexdigest()
        env.notifier.send(
            "coinpayments",
            txn.ipn_url,
            body,
            lambda _attempt: {
                "Content-Type": "application/x-www-form-urlencoded",
                "HMAC": signature,
            },
            knobs.notify_attempts,
        )

    def touch(txn: Txn) -> None:
        """Let time act on `txn`: expiry, and confirmations when auto-confirm is on."""
        now = env.clock.timestamp()
        if txn.status == 0 and now >= txn.expires:
            txn.status = -1
            notify(txn)
        auto = store.settings.auto_confirm_seconds
        if txn.status == 1 and auto > 0 and txn.received_at is not None:
            target = min(txn.confirms_needed, int((now - txn.received_at) // auto))
            if target > txn.confirms:
                txn.confirms = target
                _maybe_complete(txn, now)
                notify(txn)

    # -- the API -----------------------------------------------------------------------------

    @bp.post("/api.php")
    def api() -> Response:
        failure = env.misbehave("coinpayments", _throttled)
        if failure is not None:
            return failure
        raw = request.get_data(cache=True)  # the bytes as received, de-chunked by the server
        try:
            form = _parse(raw)
        except ValueError:
            return _error("Invalid request")
        signature = request.headers.get("HMAC", "").strip().lower()
        if not signature:
            return _error(ERR_NO_HMAC)
        if form.get("key") != ACCOUNT["public_key"]:
            return _error(ERR_BAD_KEY)
        expected = hmac.new(ACCOUNT["private_key"].encode(), raw, hashlib.sha512).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return _error(ERR_BAD_HMAC)
        if form.get("version") != "1":
            return _error(ERR_VERSION)
        if form.get("format", "json") != "json":
            return _error("The sandbox answers format=json only")
        cmd = form.get("cmd", "")
        handler = COMMANDS.get(cmd)
        if handler is None:
            return _error(ERR_COMMAND)
        if cmd in store.settings.denied_commands:
            return _error(ERR_PERMISSION)
        with store.lock:
            outcome = handler(form)
            if isinstance(outcome, str):
                return _error(outcome)
            if store.settings.stringify_numbers:
                outcome = _stringify(outcome)
        return _ok(outcome)

    def create_transaction(form: dict[str, str]) -> dict[str, Any] | str:
        for name in ("amount", "currency1", "currency2", "buyer_email"):
            if not form.get(name):
                return f"Missing required field: {name}"
        currency1, currency2 = form["currency1"].upper(), form["currency2"].upper()
        try:
            amount1 = Decimal(form["amount"])
        except InvalidOperation:
            return "Invalid amount!"
        if not amount1.is_finite() or amount1 <= 0:
            return "Invalid amount!"
        if currency2 not in COIN_USD:
            return f"Invalid or unsupported currency2: {currency2}"
        usd = _usd(amount1, currency1)
        if usd is None:
            return f"Invalid or unsupported currency1: {currency1}"
        coins = (usd / COIN_USD[currency2]).quantize(SATOSHI, rounding=ROUND_UP)
        settings = store.settings
        txn = Txn(
            txn_id="CP" + "".join(secrets.choice(_ALNUM) for _ in range(24)),
            key=secrets.token_hex(16),
            created=env.clock.timestamp(),
            timeout=settings.timeout,
            amount1=form["amount"],
            currency1=currency1,
            currency2=currency2,
            due=max(1, int(coins / SATOSHI)),
            confirms_needed=settings.confirms_needed,
            address=_address(currency2),
            dest_tag=str(secrets.randbelow(10**9)) if currency2 in TAG_COINS else None,
            buyer_email=form["buyer_email"],
            extra={
                k: form[k]
                for k in ("buyer_name", "item_name", "item_number", "invoice", "custom")
                if form.get(k)
            },
            ipn_url=form.get("ipn_url", ""),
            success_url=form.get("success_url", ""),
            cancel_url=form.get("cancel_url", ""),
        )
        store.txns[txn.txn_id] = txn
        base = request.host_url.rstrip("/")
        ids = f"id={txn.txn_id}&key={txn.key}"
        result: dict[str, Any] = {
            "amount": _f8(txn.due),
            "txn_id": txn.txn_id,
            "address": txn.address,
            "confirms_needed": str(txn.confirms_needed),
            "timeout": txn.timeout,
            "checkout_url": f"{base}/index.php?cmd=checkout&{ids}",
            "status_url": f"{base}/index.php?cmd=status&{ids}",
            "qrcode_url": f"{base}/qrgen.php?{ids}",
        }
        if txn.dest_tag:
            result["dest_tag"] = txn.dest_tag
        log.info("sandbox coinpayments: created %s for %s %s", txn.txn_id, amount1, currency1)
        return result

    def get_tx_info(form: dict[str, str]) -> dict[str, Any] | str:
        txid = form.get("txid") or form.get("pmtid") or ""
        if not txid:
            return "Missing required field: txid"
        if form.get("full", "0") not in ("0", "1"):
            return "Invalid value for full: use 0 or 1"
        txn = store.txns.get(txid)
        if txn is None:
            return ERR_PAYMENT_ID
        touch(txn)
        return tx_info(txn, full=form.get("full") == "1")

    def get_tx_info_multi(form: dict[str, str]) -> dict[str, Any] | str:
        raw_ids = form.get("txid") or form.get("pmtid") or ""
        ids = [i.strip() for i in raw_ids.split("|") if i.strip()]
        if not ids:
            return "Missing required field: txid"
        if len(ids) > MULTI_LIMIT:
            return f"Too many payment IDs! (max {MULTI_LIMIT})"
        result: dict[str, Any] = {}
        for txid in ids:
            txn = store.txns.get(txid)
            if txn is None:
                result[txid] = {"error": ERR_PAYMENT_ID}
                continue
            touch(txn)
            result[txid] = {"error": "ok", **tx_info(txn, full=False)}
        return result

    COMMANDS = {
        "create_transaction": create_transaction,
        "get_tx_info": get_tx_info,
        "get_tx_info_multi": get_tx_info_multi,
    }

    # -- the hosted page ---------------------------------------------------------------------

    @bp.get("/index.php")
    def page() -> Response | tuple[str, int] | str:
        with store.lock:
            txn = _find(store, request.args)
            if txn is None:
                return render_template("coinpayments/missing.html"), 404
            touch(txn)
            view = page_view(txn)
        return render_template(
            "coinpayments/checkout.html",
            t=view,
            controls=request.args.get("cmd") == "checkout",
            done=ACTIONS.get(request.args.get("done", "")),
        )

    @bp.post("/index.php")
    def act() -> Response | tuple[str, int] | tuple[Response, int]:
        wants_json = request.accept_mimetypes.best == "application/json"
        action = request.form.get("action", "")
        with store.lock:
            txn = _find(store, request.values)
            if txn is None:
                if wants_json:
                    return jsonify(error=ERR_PAYMENT_ID), 404
                return render_template("coinpayments/missing.html"), 404
            touch(txn)
            refusal = perform(txn, action)
            view = page_view(txn)
        if refusal:
            if wants_json:
                return jsonify(error=refusal, transaction=view), 409
            page_html = render_template(
                "coinpayments/checkout.html", t=view, controls=True, done=None, refusal=refusal
            )
            return page_html, 409
        if wants_json:
            return jsonify(view), 200
        return redirect(f"{view['checkout_url']}&done={action}", 303)

    def perform(txn: Txn, action: str) -> str | None:
        """Apply one hosted-page action; the reason in words when it does not apply now."""
        now = env.clock.timestamp()
        remaining = max(0, txn.due - txn.received)
        if action in ("send_full", "send_short", "expire") and txn.status != 0:
            return f"{ACTIONS[action]}: the payment is no longer waiting for coins"
        if action == "send_full":
            txn.received += remaining
            txn.received_at = now
            txn.status = 1
            _maybe_complete(txn, now)
        elif action == "send_short":
            short = max(1, remaining * store.settings.short_percent // 100)
            if short >= remaining:
                return "Send too little: only one unit is still due"
            txn.received += short
        elif action == "expire":
            txn.timeout = max(0, now - txn.created)
            txn.status = -1
        elif action == "confirm":
            if txn.status != 1:
                return "Add a confirmation: no coins are waiting for confirmations"
            txn.confirms += 1
            _maybe_complete(txn, now)
        elif action == "send_late":
            if txn.status not in (0, -1):
                return "Send too late: the payment is already paid"
            if txn.status == 0:
                txn.timeout = max(0, now - txn.created)
                txn.status = -1
                notify(txn)
            txn.received += remaining
            txn.received_at = now
            txn.confirms = txn.confirms_needed
            _maybe_complete(txn, now)
        else:
            return f"unknown action {action!r}"
        notify(txn)
        return None

    def page_view(txn: Txn) -> dict[str, Any]:
        base = request.host_url.rstrip("/")
        ids = f"id={txn.txn_id}&key={txn.key}"
        now = env.clock.timestamp()
        return {
            "txn_id": txn.txn_id,
            "status": txn.status,
            "status_text": txn.status_text,
            "item_name": txn.extra.get("item_name", ""),
            "amount1": txn.amount1,
            "currency1": txn.currency1,
            "coin": txn.currency2,
            "amount": _f8(txn.due),
            "received": _f8(txn.received),
            "remaining": _f8(max(0, txn.due - txn.received)),
            "address": txn.address,
            "dest_tag": txn.dest_tag,
            "confirms": txn.confirms,
            "confirms_needed": txn.confirms_needed,
            "now": now,
            "expires": txn.expires,
            "seconds_left": max(0, txn.expires - now) if txn.status == 0 else 0,
            "checkout_url": f"{base}/index.php?cmd=checkout&{ids}",
            "status_url": f"{base}/index.php?cmd=status&{ids}",
            "qrcode_url": f"{base}/qrgen.php?{ids}",
            "success_url": txn.success_url,
            "cancel_url": txn.cancel_url if txn.status == 0 and not txn.received else "",
        }

    @bp.get("/qrgen.php")
    def qrcode() -> Response | tuple[str, int]:
        with store.lock:
            txn = _find(store, request.args)
            if txn is None:
                return "not found", 404
            label = txn.address
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" role="img" '
            f'aria-label="QR code for {label}"><rect width="160" height="160" fill="#fff"/>'
            '<text x="80" y="84" font-size="12" text-anchor="middle">sandbox QR</text></svg>'
        )
        return Response(svg, mimetype="image/svg+xml")

    # -- sandbox-only controls ---------------------------------------------------------------

    @bp.route("/_sandbox/coinpayments/settings", methods=["GET", "POST"])
    def settings() -> Response | tuple[Response, int]:
        if request.method == "POST":
            try:
                with store.lock:
                    store.settings.update(request.get_json(force=True) or {})
            except (ValueError, TypeError) as exc:
                return jsonify(error=str(exc)), 400
        return jsonify(asdict(store.settings))

    @bp.get("/_sandbox/coinpayments/transactions/<txn_id>")
    def transaction(txn_id: str) -> Response | tuple[Response, int]:
        with store.lock:
            txn = store.txns.get(txn_id)
            if txn is None:
                return jsonify(error=ERR_PAYMENT_ID), 404
            touch(txn)
            return jsonify(page_view(txn))

    def tx_info(txn: Txn, *, full: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "time_created": txn.created,
            "time_expires": txn.expires,
            "status": txn.status,
            "status_text": txn.status_text,
            "type": "coins",
            "coin": txn.currency2,
            "amount": txn.due,
            "amountf": _f8(txn.due),
            "received": txn.received,
            "receivedf": _f8(txn.received),
            "recv_confirms": txn.confirms,
            "payment_address": txn.address,
        }
        if txn.completed is not None:
            info["time_completed"] = txn.completed
            info["send_tx"] = txn.send_tx
        if full:
            info["checkout"] = {
                "currency": txn.currency1,
                "amountf": txn.amount1,
                **{k: v for k, v in txn.extra.items() if k != "buyer_name"},
            }
            info["shipping"] = []
        return info

    app.register_blueprint(bp)


def ipn_fields(txn: Txn) -> dict[str, str]:
    """All fields of an `ipn_type=api` IPN (protocols.md A.8.3 and A.8.4), as strings."""
    fee = (Decimal(txn.due) * SATOSHI * Decimal("0.005")).quantize(SATOSHI, rounding=ROUND_UP)
    fields_: dict[str, str] = {
        "ipn_version": "1.0",
        "ipn_type": "api",
        "ipn_mode": "hmac",
        "ipn_id": secrets.token_hex(16),
        "merchant": ACCOUNT["merchant_id"],
        "txn_id": txn.txn_id,
        "status": str(txn.status),
        "status_text": txn.status_text,
        "currency1": txn.currency1,
        "currency2": txn.currency2,
        "amount1": txn.amount1,
        "amount2": _f8(txn.due),
        "fee": f"{fee:.8f}",
        "email": txn.buyer_email,
        "received_amount": _f8(txn.received),
        "received_confirms": str(txn.confirms),
    }
    fields_.update(txn.extra)
    if txn.status >= 100 and txn.send_tx:
        fields_["send_tx"] = txn.send_tx
    return fields_


def _maybe_complete(txn: Txn, now: int) -> None:
    if txn.received >= txn.due and txn.confirms >= txn.confirms_needed and txn.status < 100:
        txn.status = 100
        txn.completed = now
        txn.send_tx = secrets.token_hex(32)


def _find(store: Store, values: Any) -> Txn | None:
    txn = store.txns.get(values.get("id", ""))
    if txn is None or not hmac.compare_digest(txn.key, values.get("key", "")):
        return None
    return txn


def _parse(raw: bytes) -> dict[str, str]:
    pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    return dict(pairs)


def _usd(amount: Decimal, currency: str) -> Decimal | None:
    if currency in COIN_USD:
        return amount * COIN_USD[currency]
    if currency in FIAT_PER_USD:
        return amount / FIAT_PER_USD[currency]
    return None


def _address(coin: str) -> str:
    bech32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    prefixes = {"BTC": "bc1q", "LTC": "ltc1q", "LTCT": "tltc1q"}
    if coin in prefixes:
        return prefixes[coin] + "".join(secrets.choice(bech32) for _ in range(38))
    if coin in ("ETH", "USDT", "USDC"):
        return "0x" + secrets.token_hex(20)
    first = {"DOGE": "D", "XRP": "r", "TRX": "T", "DASH": "X"}.get(coin, "1")
    return first + "".join(secrets.choice(base58) for _ in range(33))


def _f8(units: int) -> str:
    return f"{(Decimal(units) * SATOSHI):.8f}"


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _ok(result: Any) -> Response:
    return Response(json.dumps({"error": "ok", "result": result}), 200, mimetype="application/json")


def _error(message: str) -> Response:
    return Response(json.dumps({"error": message, "result": []}), 200, mimetype="application/json")


def _throttled() -> Response:
    """What the error_rate / timeout_rate knobs answer: CoinPayments' own throttle envelope."""
    return _error(
        f"Too many errors in the last two minutes from {request.remote_addr}: "
        "please fix your code and try again"
    )


_ALNUM = string.ascii_uppercase + string.digits
