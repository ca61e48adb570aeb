"""Rendered list fragments, cached under a key that changes whenever what they show changes.

A list page (订单管理) spends most of its time in the template: twenty rows through Django's
template engine cost several times the queries behind them. The rows only change when one of
the rows does, so the page reads a cheap *stamp* of its rows first (how many, and the newest
`updated_at` — every write to an order moves it) and serves the fragment rendered for that
stamp; a new order, a status change or any saved field gives a new stamp and a fresh render.

A "newest change" stamp has one blind spot: `updated_at` is set before the transaction commits,
so a slow transaction can commit an *older* `updated_at` after a page was cached under a newer
one. Such a fragment is therefore only cached once its newest change is SETTLE_SECONDS old —
longer than any transaction that writes an order holds its commit (or than clock skew between
hosts); until then it is rendered afresh on every view.

Every key also holds a digest of the templates and Python sources (`release_digest`), so a
deploy never serves markup rendered by the previous code, and the caller's stamp names the
user or the order, so nobody is served another user's rows. What a stamp can't see (e.g. a CA
renamed in the admin) shows after FRAGMENT_TIMEOUT at the latest.
"""

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.cache import cache as default_cache
from django.http import HttpRequest
from django.template import loader
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

FRAGMENT_TIMEOUT = 300
SETTLE_SECONDS = 10
_SOURCE_DIRS = ("templates", "yueqiqian", "accounts", "orders", "certificates", "authorization",
                "invoices")  # fmt: skip


@cache
def release_digest() -> str:
    """A digest of this deployment's templates and Python sources (read once per process)."""
    digest = hashlib.sha256()
    for top in _SOURCE_DIRS:
        for path in sorted((Path(settings.BASE_DIR) / top).rglob("*")):
            if path.suffix in (".html", ".py") and "migrations" not in path.parts:
                digest.update(str(path.relative_to(settings.BASE_DIR)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def fragment_key(template_name: str, parts: Iterable[object]) -> str:
    # Hashed: a stamp may hold any characters (times, names), a cache key should not.
    stamp = hashlib.sha256(repr([str(part) for part in parts]).encode()).hexdigest()[:32]
    return f"fragment:{template_name}:{release_digest()}:{stamp}"


def settled(last_change: dt.datetime | None) -> bool:
    """Whether every write up to `last_change` has surely committed (see the module doc)."""
    return last_change is None or timezone.now() - last_change > dt.timedelta(
        seconds=SETTLE_SECONDS
    )


def cached_fragment(
    template_name: str,
    *,
    stamp: Iterable[object],
    context: Callable[[], dict],
    request: HttpRequest | None = None,
    cacheable: bool = True,
) -> SafeString:
    """`template_name` (a page's `#partial`) rendered with `context()`, or the copy rendered
    before for the same stamp. `context` is only called on a miss: it holds the row queries.
    With `cacheable=False` (a stamp not settled yet) it is rendered and not kept."""
    key = fragment_key(template_name, stamp)
    html = default_cache.get(key) if cacheable else None
    if html is None:
        html = loader.render_to_string(template_name, context(), request)
        if cacheable:
            default_cache.set(key, str(html), FRAGMENT_TIMEOUT)
    return mark_safe(html)  # noqa: S308 - our own template's output, escaped when rendered
