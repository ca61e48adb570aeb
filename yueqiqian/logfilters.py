"""Logging filters. The legal representative's share link carries its token in the path
(/a/<token>/…); Django logs 4xx paths, so the token is redacted before any handler sees it."""

import logging
import re

_SHARE_TOKEN = re.compile(r"/a/[A-Za-z0-9_-]{16,}")


class RedactShareTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/a/" in message:
            record.msg = _SHARE_TOKEN.sub("/a/<redacted>", message)
            record.args = None
        return True
