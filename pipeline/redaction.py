"""Secrets the process has seen (database passwords), so that nothing it logs or prints shows them."""
from __future__ import annotations

MASK = "***"
_secrets: set[str] = set()


def remember(secret: str | None) -> None:
    """From now on, `redact` replaces `secret` wherever it appears."""
    if secret:
        _secrets.add(secret)


def redact(text: str) -> str:
    """`text` with every remembered secret masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
