"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives in memory.

The shop's mail client talks to it exactly as to a provider's server, so `make run` and the
tests exercise the same SMTP conversation production does. Like a real server it can refuse a
recipient (`Mailbox.refuse`), answering RCPT with the code given (550: no such mailbox).
"""

from __future__ import annotations

import email
import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd logs every connection and command at INFO; the mail page shows what matters
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Received:
    number: int  # 1, 2, ... in the order the server accepted them
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # the DATA exactly as sent
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Mailbox:
    """The messages a MailServer accepted, shared with the sandbox's mail page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._refused: dict[str, int] = {}

    def refuse(self, address: str, code: int = 550) -> None:
        """Answer RCPT TO:<address> with `code` from now on (4xx: try later, 5xx: never)."""
        with self._lock:
            self._refused[address.lower()] = code

    def refusal(self, address: str) -> int | None:
        with self._lock:
            return self._refused.get(address.lower())

    def add(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> Received:
        with self._lock:
            received = Received(len(self._messages) + 1, mail_from, rcpt_tos, raw)
            self._messages.append(received)
            return received

    def all(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def get(self, number: int) -> Received | None:
        with self._lock:
            return self._messages[number - 1] if 0 < number <= len(self._messages) else None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._refused.clear()


class _Handler:
    """aiosmtpd's hooks: check each recipient, store each message."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(  # the names aiosmtpd calls
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        code = self.mailbox.refusal(address)
        if code is not None:
            word = "try again later" if code < 500 else "mailbox unavailable"
            return f"{code} {'4.2.1' if code < 500 else '5.1.1'} <{address}>: {word}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mailbox.add(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content)
        return "250 Message accepted for delivery"


class MailServer:
    """Start with `.start()`, stop with `.stop()`; `port=0` picks a free port."""

    def __init__(self, mailbox: Mailbox | None = None, host: str = "127.0.0.1", port: int = 0):
        self.mailbox = mailbox or Mailbox()
        self.host = host
        self.port = port or _free_port(host)
        self._controller = Controller(_Handler(self.mailbox), hostname=host, port=self.port)

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def _free_port(host: str) -> int:
    # aiosmtpd's Controller checks it is up by connecting to its port, so it needs a real number
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
