"""Certificates and seat grants end on their date; their administrators are reminded first.

Run by beat through certificates.tasks:

* `certificates_expire_due` (hourly): VALID → EXPIRED once `not_after` has come. The enterprise
  may then apply again: neither the database's one-valid-certificate rule nor the application's
  check (orders.services._blocking_for) counts an expired certificate.
* `seats_over_capacity_release` (with it): seat grants need no status, they are in force by
  date (selectors.seat_grants_active). When one ends and the certificate has more employees
  than seats left, the employees added last lose their authorization and the administrator is
  told by SMS. The reminders before the grant ends say so, so the administrator can choose whom
  to remove, or buy seats, in time. (Keeping everyone and flagging the certificate would let
  employees use seats nobody pays for, for as long as the administrator ignores the flag.)
* `expiry_reminders_queue` (daily): settings.YQ_EXPIRY_REMINDER_DAYS (30, 7, 1) calendar days
  before the date, by SMS to the administrator and by email to the application's address.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import EmployeeAuthorization, EnterpriseCertificate, ExpiryReminder, SeatGrant
from .selectors import seats_total, seats_used

logger = logging.getLogger(__name__)

# One run handles at most this many of each kind; the next run takes the rest.
EXPIRE_BATCH = 500
CAPACITY_BATCH = 200
REMINDER_BATCH = 200
# A grant that ended this long ago is still checked, so a beat that was down for days catches
# up; the check is a no-op once the certificate fits its seats.
CAPACITY_LOOKBACK = timedelta(days=7)
# How many removed employees the administrator's SMS names before "等".
SMS_NAMES_SHOWN = 3

Status = EnterpriseCertificate.Status


# ---- Expiry ------------------------------------------------------------------------------------


def certificates_expire_due(*, now: datetime) -> int:
    """Move VALID certificates whose `not_after` has come to EXPIRED; returns how many moved.

    A guarded update (… WHERE status = 'valid' AND not_after <= now): two overlapping runs
    expire each certificate once, and a certificate revoked meanwhile stays revoked.
    """
    due = list(
        EnterpriseCertificate.objects.filter(status=Status.VALID, not_after__lte=now)
        .order_by("not_after", "pk")
        .values_list("pk", "serial_hex")[:EXPIRE_BATCH]
    )
    if not due:
        return 0
    expired = EnterpriseCertificate.objects.filter(
        pk__in=[pk for pk, _ in due], status=Status.VALID, not_after__lte=now
    ).update(status=Status.EXPIRED)
    logger.info(
        "%d certificate(s) expired (serials %s)", expired, ", ".join(serial for _, serial in due)
    )
    return expired


def seats_over_capacity_release(*, now: datetime) -> int:
    """Fit every valid certificate whose enterprise had a seat grant end lately into the seats it
    has left; returns how many employee authorizations were removed."""
    ended = SeatGrant.objects.filter(
        credit_code=OuterRef("credit_code"),
        expires_at__lte=now,
        expires_at__gt=now - CAPACITY_LOOKBACK,
    )
    employed = EmployeeAuthorization.objects.filter(
        certificate=OuterRef("pk"), removed_at__isnull=True
    )
    candidates = EnterpriseCertificate.objects.filter(
        Exists(ended), Exists(employed), status=Status.VALID
    ).values_list("pk", flat=True)[:CAPACITY_BATCH]
    removed = 0
    for certificate_id in candidates:
        try:
            removed += len(certificate_seats_fit(certificate_id=certificate_id, now=now))
        except Exception:
            logger.exception("fitting certificate %s into its seats failed", certificate_id)
    return removed


@transaction.atomic
def certificate_seats_fit(*, certificate_id: int, now: datetime) -> list[EmployeeAuthorization]:
    """Remove the employees added last until the certificate's users fit its seats at `now`;
    returns the removed authorizations and queues an SMS to the administrator naming them.

    The certificate row is locked, as adding an employee locks it, so an employee added while
    this runs is counted.
    """
    certificate = (
        EnterpriseCertificate.objects.select_for_update(of=("self",))
        .select_related("holder")
        .get(pk=certificate_id)
    )
    if certificate.status != Status.VALID:
        return []
    total = seats_total(certificate, at=now)
    excess = seats_used(certificate) - total
    if excess <= 0:
        return []
    removed = list(
        certificate.employees.filter(removed_at__isnull=True).order_by("-added_at", "-id")[:excess]
    )
    EmployeeAuthorization.objects.filter(pk__in=[e.pk for e in removed]).update(removed_at=now)
    for employee in removed:
        employee.removed_at = now
    logger.info(
        "certificate %s: seats ended, %d employee authorization(s) removed (ids %s)",
        certificate.serial_hex,
        len(removed),
        ", ".join(str(e.pk) for e in removed),
    )
    from accounts.tasks import sms_deliver

    sms_deliver.delay_on_commit(
        phone=certificate.holder.phone,
        text=seats_released_sms_text(certificate=certificate, total=total, removed=removed),
    )
    return removed


def seats_released_sms_text(
    *, certificate: EnterpriseCertificate, total: int, removed: list[EmployeeAuthorization]
) -> str:
    names = "、".join(e.name for e in removed[:SMS_NAMES_SHOWN])
    if len(removed) > SMS_NAMES_SHOWN:
        names += f"等{len(removed)}人"
    return (
        f"【粤企签】{certificate.enterprise_name}的员工授权数量已到期，数字证书现有{total}个授权"
        f"（含管理员），已移除最后添加的{len(removed)}名员工的授权：{names}。"
        "如需继续授权，请在粤企签“我的企业证书”点击【新增授权数量】后重新【添加用户】。"
    )


# ---- Reminders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """What one reminder says, and to whom."""

    phone: str
    email: str
    sms: str
    subject: str
    body: str


def reminder_windows(days: list[int]) -> list[tuple[int, int]]:
    """(N, the next smaller N or 0) for each configured N, smallest first.

    Something expiring in d days gets the reminder of the smallest N ≥ d only: run daily, a
    certificate is reminded at 30, 7 and 1 days; one first seen with a day left gets only the
    1-day reminder, never a late "30 days" one.
    """
    ordered = sorted({d for d in days if d > 0})
    return list(zip(ordered, [0, *ordered[:-1]], strict=True))


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _window(field: str, *, now: datetime, days: int, previous: int) -> Q:
    """`field` falls d calendar days (Beijing time) from today, previous < d ≤ days.

    Calendar days, not 24-hour spans: the beat runs once a day, and "1 day before" must mean
    the day before the date, not "within 24 hours" — which, for a certificate expiring at
    10:00 and a 09:00 run, would be one hour before. d = 0 (later today) is in the first window.
    """
    today = timezone.localdate(now)
    before = {f"{field}__lt": _day_start(today + timedelta(days=days + 1))}
    if previous == 0:
        return Q(**{f"{field}__gt": now}, **before)
    return Q(**{f"{field}__gte": _day_start(today + timedelta(days=previous + 1))}, **before)


def expiry_reminders_queue(*, now: datetime) -> int:
    """Queue the reminders due at `now`, each at most once; returns how many were queued."""
    queued = 0
    for days, previous in reminder_windows(settings.YQ_EXPIRY_REMINDER_DAYS):
        for certificate in _certificates_to_remind(
            _window("not_after", now=now, days=days, previous=previous), days=days
        ):
            queued += _reminder_send_safely(
                days=days,
                certificate=certificate,
                reminder=certificate_reminder(certificate),
            )
        for grant, certificate in _seat_grants_to_remind(
            _window("expires_at", now=now, days=days, previous=previous), days=days
        ):
            queued += _reminder_send_safely(
                days=days,
                seat_grant=grant,
                reminder=seat_grant_reminder(grant, certificate=certificate),
            )
    return queued


def _reminded(days: int, **target) -> Exists:
    return Exists(ExpiryReminder.objects.filter(days_before=days, **target))


def _certificates_to_remind(window: Q, *, days: int) -> QuerySet[EnterpriseCertificate]:
    return (
        EnterpriseCertificate.objects.filter(window, status=Status.VALID)
        .exclude(_reminded(days, certificate=OuterRef("pk")))
        .select_related("ca", "holder", "order")
        .order_by("not_after", "pk")[:REMINDER_BATCH]
    )


def _seat_grants_to_remind(
    window: Q, *, days: int
) -> list[tuple[SeatGrant, EnterpriseCertificate]]:
    """Grants ending in the window while their enterprise's valid certificate goes on.

    A grant that ends with (or after) the certificate — the seats bought with it — gets no
    reminder of its own: the certificate's says what to do, and the seats cannot be used
    without a certificate anyway.
    """
    outlives = EnterpriseCertificate.objects.filter(
        credit_code=OuterRef("credit_code"),
        status=Status.VALID,
        not_after__gt=OuterRef("expires_at"),
    )
    grants = list(
        SeatGrant.objects.filter(window, Exists(outlives))
        .exclude(_reminded(days, seat_grant=OuterRef("pk")))
        .select_related("order")
        .order_by("expires_at", "pk")[:REMINDER_BATCH]
    )
    certificates = {
        c.credit_code: c
        for c in EnterpriseCertificate.objects.filter(
            status=Status.VALID, credit_code__in={g.credit_code for g in grants}
        ).select_related("holder", "order")
    }
    return [(g, certificates[g.credit_code]) for g in grants if g.credit_code in certificates]


def _reminder_send_safely(*, days: int, reminder: Reminder, **target) -> int:
    try:
        return int(expiry_reminder_send(days=days, reminder=reminder, **target))
    except Exception:
        logger.exception("expiry reminder %s (%d days) failed", target, days)
        return 0


def expiry_reminder_send(
    *,
    days: int,
    reminder: Reminder,
    certificate: EnterpriseCertificate | None = None,
    seat_grant: SeatGrant | None = None,
) -> bool:
    """Record the reminder, then queue its SMS and email when the record commits.

    The ExpiryReminder row comes first and is unique per (certificate or grant, days): of two
    overlapping runs one records it and sends, the other gets IntegrityError and sends nothing
    (returns False). At most once, then: a message lost after the record commits is not resent.
    """
    from accounts.tasks import sms_deliver

    from .tasks import expiry_reminder_email_deliver

    try:
        with transaction.atomic():
            ExpiryReminder.objects.create(
                certificate=certificate, seat_grant=seat_grant, days_before=days
            )
            sms_deliver.delay_on_commit(phone=reminder.phone, text=reminder.sms)
            if reminder.email:
                expiry_reminder_email_deliver.delay_on_commit(
                    to=reminder.email, subject=reminder.subject, body=reminder.body
                )
    except IntegrityError:
        target = certificate or seat_grant
        logger.info("expiry reminder %s (%d days) was already sent", target, days)
        return False
    return True


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


EMAIL_SIGNATURE = "\n\n如有疑问，请联系证书机构客服。\n\n粤企签\n"


def certificate_reminder(certificate: EnterpriseCertificate) -> Reminder:
    when = _when(certificate.not_after)
    name = certificate.enterprise_name
    return Reminder(
        phone=certificate.holder.phone,
        email=certificate.order.applicant_email,
        sms=(
            f"【粤企签】{name}的数字证书将于{when}到期，到期后不能再使用。"
            "到期后请登录粤企签点击【办理】重新办理，未到期的员工授权数量将转入新证书。"
        ),
        subject=f"数字证书到期提醒 · {name}",
        body=(
            f"您好：\n\n{name}（统一社会信用代码 {certificate.credit_code}）在{certificate.ca.name}"
            f"的数字证书（序列号 {certificate.serial_hex}）将于{when}到期，到期后不能再用于签名。"
            "\n\n一个企业同时只能持有一个有效的数字证书，因此新证书须在到期后办理："
            f"届时请登录粤企签（{settings.YQ_PUBLIC_BASE_URL}）点击【办理】重新办理。"
            "未到期的员工授权数量将转入新证书。" + EMAIL_SIGNATURE
        ),
    )


def seat_grant_reminder(grant: SeatGrant, *, certificate: EnterpriseCertificate) -> Reminder:
    when = _when(grant.expires_at)
    name = certificate.enterprise_name
    return Reminder(
        phone=certificate.holder.phone,
        email=certificate.order.applicant_email or grant.order.applicant_email,
        sms=(
            f"【粤企签】{name}的{grant.seats}个员工授权数量将于{when}到期。"
            "如需继续使用，请在粤企签“我的企业证书”点击【新增授权数量】；"
            "到期后超出授权数量的员工，最后添加的将先被移除授权。"
        ),
        subject=f"员工授权数量到期提醒 · {name}",
        body=(
            f"您好：\n\n{name}的数字证书（序列号 {certificate.serial_hex}）上有"
            f"{grant.seats}个员工授权数量将于{when}到期。\n\n"
            f"如需继续使用，请登录粤企签（{settings.YQ_PUBLIC_BASE_URL}），"
            "在“我的企业证书”中点击【新增授权数量】。到期时如员工人数超出剩余授权数量，"
            "最后添加的员工将先被移除授权；您也可以在到期前自行在员工授权页面移除用户。"
            + EMAIL_SIGNATURE
        ),
    )
