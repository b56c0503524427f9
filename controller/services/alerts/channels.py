"""The `AlertChannel` interface and two of its channels: email (SMTP + STARTTLS) and a webhook.

A channel sends one alert and returns, or raises `ChannelError` saying why not; it never
retries by itself: the sender behind it keeps the alert in the persisted queue and tries
again later with exponential backoff, so retries survive a restart and one channel's outage
holds up only that channel's thread. Each send is bounded by the channel's timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from controller.config.alerts import ChannelName, EmailChannel, WebhookChannel
from controller.services.alerts.message import AlertMessage

SIGNATURE_HEADER = "X-OpenPlus-Signature"  # "sha256=<hex HMAC-SHA256 of the body>"
ALERT_ID_HEADER = "X-OpenPlus-Alert"  # the alert's id: a receiver can drop a repeat delivery


class ChannelError(Exception):
    """The channel did not take the alert (unreachable, refused, timed out); try again later."""


class AlertChannel(Protocol):
    """One way to reach a person. `send` returns once the peer took the alert."""

    name: ChannelName

    def send(self, alert: AlertMessage) -> None: ...


def tls_context(ca_file: object) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class EmailAlerts:
    """One mail per alert through the configured SMTP server (`smtplib`)."""

    name: ChannelName = "email"

    def __init__(self, settings: EmailChannel) -> None:
        self.settings = settings

    def message(self, alert: AlertMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.sender
        mail["To"] = ", ".join(self.settings.recipients)
        mail["Subject"] = alert.subject()
        mail["Date"] = formatdate(alert.at.timestamp(), localtime=False)
        mail["Message-ID"] = make_msgid(f"alert{alert.id}")
        mail["X-OpenPlus-Alert"] = str(alert.id)
        mail.set_content(alert.body_text())
        return mail

    def send(self, alert: AlertMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=tls_context(s.ca_file))
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:  # socket, TLS and SMTP errors
            raise ChannelError(f"email via {s.host}:{s.port}: {exc}") from exc


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header: the receiver computes the same over the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookAlerts:
    """A JSON POST per alert, signed; any 2xx answer is delivery, anything else a retry."""

    name: ChannelName = "webhook"

    def __init__(self, settings: WebhookChannel) -> None:
        self.settings = settings

    def send(self, alert: AlertMessage) -> None:
        body = alert.json_body()
        request = urllib.request.Request(
            self.settings.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "openplus-door-alerts",
                SIGNATURE_HEADER: signature(self.settings.secret, body),
                ALERT_ID_HEADER: str(alert.id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:  # a non-2xx answer
            raise ChannelError(f"webhook answered {exc.code} {exc.reason}") from exc
        except (OSError, ValueError) as exc:  # refused, timed out, TLS, a bad URL
            raise ChannelError(f"webhook not reached: {exc}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"webhook answered {status}")
