"""Real servers on 127.0.0.1 for tests: a free port, and an aiosmtpd handler that keeps what it receives."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import Message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpInbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages_to(self, address: str) -> list[Message]:
        return [message_from_bytes(e.content) for e in self.envelopes if address in e.rcpt_tos]
