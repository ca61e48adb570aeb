"""Fixed-window rate limits kept in the shared cache (Redis in production).

A limit is named by a scope in settings.YQ_RATE_LIMITS: (requests, window seconds). `hit` counts a
request and raises RateLimited past the limit; `check` only looks.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    def __init__(self, *, scope: str, retry_after: int) -> None:
        super().__init__(f"{scope}: retry after {retry_after}s")
        self.scope = scope
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        if self.retry_after >= 3600:
            wait = f"{(self.retry_after + 3599) // 3600} 小时"
        elif self.retry_after >= 60:
            wait = f"{(self.retry_after + 59) // 60} 分钟"
        else:
            wait = f"{max(self.retry_after, 1)} 秒"
        return f"操作过于频繁，请 {wait}后再试"


def _key(scope: str, subject: str) -> tuple[str, int]:
    _, window = settings.YQ_RATE_LIMITS[scope]
    now = time.time()
    bucket = int(now // window)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    retry_after = int((bucket + 1) * window - now) + 1
    return f"rl:{scope}:{digest}:{bucket}", retry_after


def exceeded(scope: str, subject: str) -> bool:
    limit, _ = settings.YQ_RATE_LIMITS[scope]
    key, _ = _key(scope, subject)
    return (cache.get(key) or 0) >= limit


def hit(scope: str, subject: str) -> None:
    """Count one request; raise RateLimited when it goes over the limit."""
    limit, window = settings.YQ_RATE_LIMITS[scope]
    key, retry_after = _key(scope, subject)
    if cache.add(key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        raise RateLimited(scope=scope, retry_after=retry_after)


def check(scope: str, subject: str) -> None:
    """Raise RateLimited when the limit is already used up, without counting."""
    if exceeded(scope, subject):
        _, retry_after = _key(scope, subject)
        raise RateLimited(scope=scope, retry_after=retry_after)
