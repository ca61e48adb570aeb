"""Template helpers available in every template (registered as a builtin in settings)."""

from django import template

register = template.Library()


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
