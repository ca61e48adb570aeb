"""Template helpers available in every template (registered as a builtin in settings)."""

from functools import lru_cache

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import defaulttags
from django.templatetags.static import StaticNode
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()


# ---- {% url %}, remembered --------------------------------------------------------------------
# Django's `reverse` walks the URL resolver on every call (tens of µs); a page with a dozen
# links paid more for them than for its queries. The same name, arguments, namespace, script
# prefix and urlconf always give the same URL, so this `url` tag (it replaces the built-in one:
# builtins registered in settings come after Django's) remembers them. Arguments other than
# str/int (e.g. a model instance, whose str() may change) go through Django's own path.


@lru_cache(maxsize=8192)
def _reverse(view_name, args, kwargs, current_app, prefix, urlconf, root_urlconf) -> str:
    return reverse(view_name, args=args, kwargs=dict(kwargs), current_app=current_app)


class RememberedURLNode(defaulttags.URLNode):
    def render(self, context):
        args = tuple(arg.resolve(context) for arg in self.args)
        kwargs = tuple((k, v.resolve(context)) for k, v in self.kwargs.items())
        values = args + tuple(v for _, v in kwargs)
        # Not bool: True == 1 as a cache key, but Django reverses them differently.
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            return super().render(context)
        request = getattr(context, "request", None)
        current_app = getattr(request, "current_app", None)
        if current_app is None:
            current_app = getattr(getattr(request, "resolver_match", None), "namespace", None)
        try:
            url = _reverse(
                self.view_name.resolve(context),
                args,
                kwargs,
                current_app,
                get_script_prefix(),
                get_urlconf(),
                settings.ROOT_URLCONF,
            )
        except NoReverseMatch:
            if self.asvar is None:
                raise
            url = ""
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    """Django's {% url %} (same syntax, same errors), with the reverse remembered."""
    node = defaulttags.url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)


# ---- {% static %}, remembered -------------------------------------------------------------------
# The storage's url() (the manifest lookup, quoting, joining) costs ~25 µs, and every page's
# layout names four files. A path always gives the same URL in one process — the manifest is
# read once, when the storage is made — so this `static` tag (it replaces the one `{% load
# static %}` brings; our templates don't load it) remembers them; a settings change (tests)
# forgets them. A path the storage refuses raises as before, and is not remembered.


@lru_cache(maxsize=1024)
def _static_url(path: str) -> str:
    return StaticNode.handle_simple(path)


@receiver(setting_changed)
def _static_forget(**kwargs) -> None:
    _static_url.cache_clear()


class RememberedStaticNode(StaticNode):
    def url(self, context) -> str:
        path = self.path.resolve(context)
        return _static_url(path) if isinstance(path, str) else self.handle_simple(path)


@register.tag
def static(parser, token):
    """Django's {% static %} (same syntax), with the URL remembered."""
    return RememberedStaticNode.handle_token(parser, token)


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen → '1,234.50' (money is never a float)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@register.filter
def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else phone


@register.filter
def split_commas(value: str) -> list[str]:
    return value.split(",")
