"""Rendered list fragments, cached under a key that changes whenever what they show changes.

A list page (订单管理) spends most of its time in the template: twenty rows through Django's
template engine cost several times the queries behind them. The rows only change when one of
the rows does, so the page reads a cheap *stamp* of its rows first (how many, and the newest
`updated_at` — every write to an order moves it) and serves the fragment rendered for that
stamp; a new order, a status change or any saved field gives a new stamp and a fresh render.

The key also holds a digest of the template's source, so a deploy that changes the markup
never serves the old one, and the user's pk, so nobody is served another user's rows. What a
stamp can't see (e.g. a CA renamed in the admin) shows after FRAGMENT_TIMEOUT at the latest.
"""

import hashlib
from collections.abc import Callable, Iterable
from functools import cache

from django.core.cache import cache as default_cache
from django.http import HttpRequest
from django.template import loader
from django.utils.safestring import SafeString, mark_safe

FRAGMENT_TIMEOUT = 300


@cache
def _template_digest(template_name: str) -> str:
    name = template_name.partition("#")[0]
    source = loader.get_template(name).template.source
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def fragment_key(template_name: str, parts: Iterable[object]) -> str:
    # Hashed: a stamp may hold any characters (times, names), a cache key should not.
    stamp = hashlib.sha256(repr([str(part) for part in parts]).encode()).hexdigest()[:32]
    return f"fragment:{template_name}:{_template_digest(template_name)}:{stamp}"


def cached_fragment(
    template_name: str,
    *,
    stamp: Iterable[object],
    context: Callable[[], dict],
    request: HttpRequest | None = None,
) -> SafeString:
    """`template_name` (a page's `#partial`) rendered with `context()`, or the copy rendered
    before for the same stamp. `context` is only called on a miss: it holds the row queries."""
    key = fragment_key(template_name, stamp)
    html = default_cache.get(key)
    if html is None:
        html = loader.render_to_string(template_name, context(), request)
        default_cache.set(key, str(html), FRAGMENT_TIMEOUT)
    return mark_safe(html)  # noqa: S308 - our own template's output, escaped when rendered
