"""Expiry: certificates expire on their date (and the enterprise may apply again), seats that end
release the employees added last, and administrators are reminded 30, 7 and 1 days before —
each reminder once, by SMS and email. Time is frozen with time-machine."""

import itertools
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils.module_loading import import_string

from certificates.expiry import expiry_reminder_send, reminder_windows
from certificates.models import (
    CAInstitution,
    EmployeeAuthorization,
    EnterpriseCertificate,
    ExpiryReminder,
    SeatGrant,
)
from certificates.selectors import agreement_current
from certificates.services import certificate_issue_for_order
from certificates.tasks import certificates_expire, expiry_reminders_send
from orders.services import ApplicationError, agreement_accept, order_create, order_transition
from orders.states import OrderKind, OrderStatus
from tests.factories import (
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    verified,
)

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
Status = EnterpriseCertificate.Status
# Certificates in these tests expire at 14:00 on 30 June 2026, Beijing time.
EXPIRES = datetime(2026, 6, 30, 14, 0, tzinfo=SHANGHAI)
_enterprises = itertools.count(1)


# ---- helpers -----------------------------------------------------------------------------------


def completed_order(*, applicant, package=None, kind=OrderKind.NEW_CERTIFICATE, **fields):
    package = package or PackageFactory()
    if kind == OrderKind.NEW_CERTIFICATE:
        order = order_create(
            kind=kind, applicant=applicant, ca=package.ca, package=package, years=1, **fields
        )
        steps = [
            OrderStatus.AWAITING_AUTHORIZATION,
            OrderStatus.AUTHORIZED,
            OrderStatus.ISSUING,
            OrderStatus.COMPLETED,
        ]
    else:
        order = order_create(
            kind=kind, applicant=applicant, ca=package.ca, package=None, years=1, **fields
        )
        steps = [OrderStatus.COMPLETED]
    for step in steps:
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def certificate(
    *,
    not_after=EXPIRES,
    status=Status.VALID,
    enterprise_name="广州市示例科技有限公司",
    applicant_email="zhang@example.cn",
) -> EnterpriseCertificate:
    """A certificate row as issuance leaves it (the signing itself is tested elsewhere)."""
    holder = UserFactory()
    credit_code = make_credit_code(f"91440106MA59A{next(_enterprises):04d}")
    order = completed_order(
        applicant=holder,
        credit_code=credit_code,
        enterprise_name=enterprise_name,
        applicant_email=applicant_email,
        applicant_phone=holder.phone,
    )
    return EnterpriseCertificate.objects.create(
        order=order,
        ca=order.ca,
        holder=holder,
        status=status,
        enterprise_name=enterprise_name,
        credit_code=credit_code,
        legal_rep_name="张三",
        serial_hex=secrets.token_hex(10),
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        issued_at=not_after - timedelta(days=365),
    )


def seat_grant(cert: EnterpriseCertificate, *, seats: int, expires_at) -> SeatGrant:
    order = completed_order(
        applicant=cert.holder,
        package=PackageFactory(ca=cert.ca),
        kind=OrderKind.SEAT_TOPUP,
        extra_seats=seats,
        target_certificate=cert,
    )
    return SeatGrant.objects.create(
        credit_code=cert.credit_code,
        order=order,
        seats=seats,
        starts_at=expires_at - timedelta(days=365),
        expires_at=expires_at,
    )


def employee(cert: EnterpriseCertificate, name: str, phone: str) -> EmployeeAuthorization:
    return EmployeeAuthorization.objects.create(
        certificate=cert, name=name, phone=phone, added_by=cert.holder
    )


def status_of(cert: EnterpriseCertificate) -> str:
    cert.refresh_from_db(fields=["status"])
    return cert.status


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a beat task as the worker would: its queued SMS and emails are sent on commit."""

    def _run(task):
        with django_capture_on_commit_callbacks(execute=True):
            return task()

    return _run


@pytest.fixture
def at(time_machine):
    """Freeze the clock at a moment."""

    def _at(moment: datetime) -> None:
        time_machine.move_to(moment, tick=False)

    return _at


# ---- certificates expire on their date ---------------------------------------------------------


def test_a_certificate_expires_exactly_at_not_after_and_not_a_second_before(at, run):
    at(EXPIRES - timedelta(days=1))
    cert = certificate()

    at(EXPIRES - timedelta(seconds=1))
    assert run(certificates_expire) == 0
    assert status_of(cert) == Status.VALID

    at(EXPIRES)
    assert run(certificates_expire) == 1
    assert status_of(cert) == Status.EXPIRED


def test_expiring_again_changes_nothing(at, run):
    at(EXPIRES - timedelta(days=1))
    cert = certificate()
    at(EXPIRES + timedelta(hours=1))
    run(certificates_expire)

    assert run(certificates_expire) == 0
    assert status_of(cert) == Status.EXPIRED


def test_only_valid_certificates_expire(at, run):
    at(EXPIRES - timedelta(days=1))
    revoked = certificate(status=Status.REVOKED)
    later = certificate(not_after=EXPIRES + timedelta(days=1))

    at(EXPIRES + timedelta(hours=1))
    assert run(certificates_expire) == 0
    assert status_of(revoked) == Status.REVOKED
    assert status_of(later) == Status.VALID


@pytest.fixture
def demo_ca(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    return CAInstitution.objects.get(code="nanyue")


def test_after_expiry_the_enterprise_can_apply_again_and_get_a_new_certificate(demo_ca, at, run):
    at(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    applicant = UserFactory()
    verified(applicant)
    package = demo_ca.packages.first()
    first = filled_application(applicant=applicant, package=package)
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        first = order_transition(order=first, to=step, actor_label="测试")
    old = certificate_issue_for_order(order_id=first.pk)
    with pytest.raises(ApplicationError, match="已有有效的数字证书"):
        filled_application(applicant=applicant, package=package, credit_code=first.credit_code)

    at(old.not_after)
    run(certificates_expire)
    again = filled_application(applicant=applicant, package=package, credit_code=first.credit_code)
    again = agreement_accept(
        order=again,
        actor=applicant,
        agreement=agreement_current(ca=demo_ca),
        ip="127.0.0.1",
        user_agent="pytest",
    )
    for step in [OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        again = order_transition(order=again, to=step, actor_label="测试")
    new = certificate_issue_for_order(order_id=again.pk)

    assert status_of(old) == Status.EXPIRED
    assert new.status == Status.VALID
    assert new.credit_code == old.credit_code
    assert new.not_after > old.not_after


# ---- seats that end release the employees added last -------------------------------------------


def test_when_seats_end_the_employees_added_last_lose_their_authorization(
    at, run, time_machine, sms_outbox
):
    at(EXPIRES - timedelta(days=30))
    cert = certificate(not_after=EXPIRES + timedelta(days=365))
    ending = seat_grant(cert, seats=2, expires_at=EXPIRES)
    seat_grant(cert, seats=1, expires_at=EXPIRES + timedelta(days=365))
    first = employee(cert, "赵一", "13900000001")
    time_machine.shift(timedelta(minutes=1))
    second = employee(cert, "钱二", "13900000002")
    time_machine.shift(timedelta(minutes=1))
    third = employee(cert, "孙三", "13900000003")

    at(ending.expires_at - timedelta(seconds=1))
    run(certificates_expire)
    assert cert.employees.filter(removed_at__isnull=True).count() == 3

    at(ending.expires_at)
    run(certificates_expire)

    kept = cert.employees.filter(removed_at__isnull=True)
    assert list(kept) == [first]
    for gone in (second, third):
        gone.refresh_from_db()
        assert gone.removed_at == ending.expires_at
    [sms] = sms_outbox.messages()
    assert sms["phone"] == cert.holder.phone
    assert "广州市示例科技有限公司的员工授权数量已到期" in sms["text"]
    assert "现有2个授权（含管理员）" in sms["text"]
    assert "已移除最后添加的2名员工的授权：孙三、钱二" in sms["text"]
    assert "【新增授权数量】" in sms["text"]
    assert status_of(cert) == Status.VALID


def test_releasing_seats_again_changes_nothing(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=30))
    cert = certificate(not_after=EXPIRES + timedelta(days=365))
    seat_grant(cert, seats=1, expires_at=EXPIRES)
    employee(cert, "赵一", "13900000001")
    at(EXPIRES)
    run(certificates_expire)

    at(EXPIRES + timedelta(hours=1))
    run(certificates_expire)

    assert EmployeeAuthorization.objects.filter(removed_at__isnull=False).count() == 1
    assert len(sms_outbox.messages()) == 1


def test_employees_within_the_seats_left_keep_their_authorization(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=30))
    cert = certificate(not_after=EXPIRES + timedelta(days=365))
    seat_grant(cert, seats=2, expires_at=EXPIRES)
    seat_grant(cert, seats=1, expires_at=EXPIRES + timedelta(days=365))
    employee(cert, "赵一", "13900000001")

    at(EXPIRES)
    run(certificates_expire)

    assert cert.employees.filter(removed_at__isnull=True).count() == 1
    assert sms_outbox.messages() == []


def test_an_expired_certificate_keeps_its_employee_records_as_they_were(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=30))
    cert = certificate()
    seat_grant(cert, seats=2, expires_at=EXPIRES)
    employee(cert, "赵一", "13900000001")
    employee(cert, "钱二", "13900000002")

    at(EXPIRES)
    run(certificates_expire)

    assert status_of(cert) == Status.EXPIRED
    assert cert.employees.filter(removed_at__isnull=True).count() == 2
    assert sms_outbox.messages() == []


# ---- reminders ---------------------------------------------------------------------------------


def test_reminder_windows_give_each_day_count_the_span_down_to_the_next_smaller_one():
    assert reminder_windows([30, 7, 1]) == [(1, 0), (7, 1), (30, 7)]
    assert reminder_windows([7, 0, 7, 30]) == [(7, 0), (30, 7)]


def days_reminded(run, at, *, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Run the reminder beat twice a day from `start` to `end`; (when, how many) per run that
    queued something."""
    sent = []
    day = start
    while day < end:
        for hour in (9, 21):
            moment = day.replace(hour=hour)
            at(moment)
            queued = run(expiry_reminders_send)
            if queued:
                sent.append((moment, queued))
        day += timedelta(days=1)
    return sent


def test_a_certificate_is_reminded_30_7_and_1_days_before_each_once(at, run, sms_outbox):
    start = datetime(2026, 5, 20, 0, 0, tzinfo=SHANGHAI)
    at(start)
    cert = certificate()

    sent = days_reminded(run, at, start=start, end=EXPIRES + timedelta(days=2))

    # The morning run on the calendar day 30, 7 and 1 days before 30 June.
    assert sent == [
        (datetime(2026, 5, 31, 9, 0, tzinfo=SHANGHAI), 1),
        (datetime(2026, 6, 23, 9, 0, tzinfo=SHANGHAI), 1),
        (datetime(2026, 6, 29, 9, 0, tzinfo=SHANGHAI), 1),
    ]
    assert sorted(cert.reminders.values_list("days_before", flat=True)) == [1, 7, 30]
    assert [m["phone"] for m in sms_outbox.messages()] == [cert.holder.phone] * 3
    assert len(mail.outbox) == 3


@pytest.mark.parametrize("hour", [0, 8, 10, 23])
def test_the_one_day_reminder_comes_the_day_before_whatever_the_hour_of_expiry(at, run, hour):
    expires = datetime(2026, 6, 30, hour, 30, tzinfo=SHANGHAI)
    start = datetime(2026, 6, 20, 0, 0, tzinfo=SHANGHAI)
    at(start)
    certificate(not_after=expires)

    sent = days_reminded(run, at, start=start, end=expires)

    assert sent[-1] == (datetime(2026, 6, 29, 9, 0, tzinfo=SHANGHAI), 1)


def test_a_certificate_first_seen_a_day_before_gets_only_the_one_day_reminder(at, run):
    at(EXPIRES - timedelta(days=40))
    cert = certificate()

    at(EXPIRES - timedelta(hours=20))
    assert run(expiry_reminders_send) == 1
    assert run(expiry_reminders_send) == 0

    assert list(cert.reminders.values_list("days_before", flat=True)) == [1]


def test_revoked_and_expired_certificates_are_not_reminded(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=40))
    certificate(status=Status.REVOKED)
    certificate(status=Status.EXPIRED)

    at(EXPIRES - timedelta(days=3))
    assert run(expiry_reminders_send) == 0

    assert not ExpiryReminder.objects.exists()
    assert sms_outbox.messages() == []
    assert mail.outbox == []


def test_the_certificate_reminder_names_the_enterprise_the_date_and_what_to_do(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=40))
    cert = certificate(enterprise_name="深圳市样例有限公司", applicant_email="admin@example.cn")

    at(EXPIRES - timedelta(days=6))
    run(expiry_reminders_send)

    [sms] = sms_outbox.messages()
    assert sms["phone"] == cert.holder.phone
    assert sms["text"].startswith(
        "【粤企签】深圳市样例有限公司的数字证书将于2026年6月30日 14:00到期"
    )
    assert "点击【办理】重新办理" in sms["text"]
    [email] = mail.outbox
    assert email.to == ["admin@example.cn"]
    assert email.subject == "数字证书到期提醒 · 深圳市样例有限公司"
    assert "2026年6月30日 14:00到期" in email.body
    assert cert.serial_hex in email.body
    assert "【办理】重新办理" in email.body


def test_without_an_applicant_email_only_the_sms_goes(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=40))
    certificate(applicant_email="")

    at(EXPIRES - timedelta(days=6))
    run(expiry_reminders_send)

    assert len(sms_outbox.messages()) == 1
    assert mail.outbox == []


def test_a_seat_grant_is_reminded_before_it_ends_each_time_once(at, run, sms_outbox):
    start = datetime(2026, 5, 20, 0, 0, tzinfo=SHANGHAI)
    at(start)
    cert = certificate(not_after=EXPIRES + timedelta(days=365))
    grant = seat_grant(cert, seats=3, expires_at=EXPIRES)

    sent = days_reminded(run, at, start=start, end=EXPIRES + timedelta(days=2))

    assert [count for _, count in sent] == [1, 1, 1]
    assert sorted(grant.reminders.values_list("days_before", flat=True)) == [1, 7, 30]
    assert not cert.reminders.exists()
    sms = sms_outbox.messages()[0]
    assert sms["phone"] == cert.holder.phone
    assert "广州市示例科技有限公司的3个员工授权数量将于2026年6月30日 14:00到期" in sms["text"]
    assert "【新增授权数量】" in sms["text"]
    assert mail.outbox[0].subject == "员工授权数量到期提醒 · 广州市示例科技有限公司"
    assert "【新增授权数量】" in mail.outbox[0].body


def test_seats_ending_with_the_certificate_get_no_reminder_of_their_own(at, run, sms_outbox):
    at(EXPIRES - timedelta(days=40))
    cert = certificate()
    grant = seat_grant(cert, seats=3, expires_at=EXPIRES)

    at(EXPIRES - timedelta(days=6))
    assert run(expiry_reminders_send) == 1

    assert list(cert.reminders.values_list("days_before", flat=True)) == [7]
    assert not grant.reminders.exists()
    assert "数字证书将于" in sms_outbox.messages()[0]["text"]


def test_a_reminder_already_recorded_by_another_run_is_not_sent_again(
    at, django_capture_on_commit_callbacks, sms_outbox
):
    from certificates.expiry import certificate_reminder

    at(EXPIRES - timedelta(days=6))
    cert = certificate()
    reminder = certificate_reminder(cert)

    with django_capture_on_commit_callbacks(execute=True):
        first = expiry_reminder_send(days=7, reminder=reminder, certificate=cert)
        second = expiry_reminder_send(days=7, reminder=reminder, certificate=cert)

    assert (first, second) == (True, False)
    assert ExpiryReminder.objects.filter(certificate=cert).count() == 1
    assert len(sms_outbox.messages()) == 1


def test_reminders_go_in_bounded_batches(at, run, monkeypatch):
    monkeypatch.setattr("certificates.expiry.REMINDER_BATCH", 2)
    at(EXPIRES - timedelta(days=40))
    for _ in range(3):
        certificate()

    at(EXPIRES - timedelta(days=6))
    assert run(expiry_reminders_send) == 2
    assert run(expiry_reminders_send) == 1
    assert run(expiry_reminders_send) == 0


def test_the_reminder_days_are_a_setting(at, run, settings):
    settings.YQ_EXPIRY_REMINDER_DAYS = [14]
    at(EXPIRES - timedelta(days=40))
    cert = certificate()

    at(EXPIRES - timedelta(days=10))
    assert run(expiry_reminders_send) == 1
    assert list(cert.reminders.values_list("days_before", flat=True)) == [14]


def test_the_beat_schedule_names_these_tasks(settings):
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in [
        "certificates.tasks.certificates_expire",
        "certificates.tasks.expiry_reminders_send",
        "orders.tasks.orders_cancel_unpaid",
    ]:
        assert name in names
        assert import_string(name).name == name
