"""Sending mail through the shop's SMTP server, with the standard library.

The outbox decides what happens after a failure, so this module only sorts SMTP trouble into
the two kinds a job knows: `JobRetry` when time may fix it (the server is down, slow, or answers
4xx "try later", or a setting is wrong and a person will fix it) and `JobRefused` when the
server refused the recipient for good (5xx: no such mailbox), which no retry can change.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from flask import current_app

from .jobs import JobRefused, JobRetry

log = logging.getLogger(__name__)


def message_id(local: str) -> str:
    """A Message-ID that is the same for every send of the same mail (`local` names the mail).

    A resend after a lost answer then carries the id of the first, so mail clients and the
    people reading them can tell it is the same receipt.
    """
    return f"<{local}@{sender_domain()}>"


def sender_domain() -> str:
    address = parseaddr(current_app.config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


def new_message(to: str, subject: str, local_id: str) -> EmailMessage:
    """An empty message from MAIL_FROM to `to`, its Message-ID fixed by `local_id`."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id(local_id)
    message["Date"] = formatdate(usegmt=True)  # required by RFC 5322; some servers refuse without
    return message


def send(message: EmailMessage) -> None:
    """Hand `message` to the SMTP server of the settings; raises JobRetry or JobRefused."""
    config = current_app.config
    host = config["SMTP_HOST"]
    if not host:
        raise JobRetry("SMTP_HOST is not set: no mail can be sent until it is")
    smtp = smtplib.SMTP(timeout=config["SMTP_TIMEOUT"])
    try:
        smtp.connect(host, config["SMTP_PORT"])
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise _recipient_error(exc) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise JobRetry(
            f"SMTP login refused ({exc.smtp_code}): check SMTP_USERNAME/PASSWORD"
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise JobRetry(f"SMTP server refused MAIL_FROM ({exc.smtp_code}): check it") from exc
    except smtplib.SMTPResponseException as exc:
        # DATA or another command: 4xx is "try later"; a 5xx for the message itself also gets
        # retried until a person looks, as it may be our setting (size, TLS) rather than theirs
        raise JobRetry(f"SMTP server answered {exc.smtp_code}: {_words(exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, dropped, TLS failed
        raise JobRetry(f"SMTP server {host}:{config['SMTP_PORT']} unreachable: {exc}") from exc
    finally:
        _close(smtp)
    log.info("mail %s handed to %s", message["Message-ID"], host)


def _recipient_error(exc: smtplib.SMTPRecipientsRefused) -> JobRetry | JobRefused:
    code, said = next(iter(exc.recipients.values()))
    words = f"SMTP server refused the recipient ({code}): {_words(said)}"
    return JobRefused(words) if 500 <= code < 600 else JobRetry(words)


def _words(said: bytes | str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
    return text[:200]


def _close(smtp: smtplib.SMTP) -> None:
    """Say QUIT, but never turn a delivered message into an error (and a duplicate) over it."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
