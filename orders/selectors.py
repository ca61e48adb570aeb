from django.db.models import QuerySet

from accounts.models import User

from .models import Order


def order_list_for_user(*, user: User) -> QuerySet[Order]:
    """The user's orders, newest first, with what a list row shows (no query per row)."""
    return Order.objects.filter(applicant=user).select_related("ca", "package")
