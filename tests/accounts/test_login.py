"""Login by phone number + SMS code: codes are delivered, expire, work once, resist guessing,
and sending and checking are rate limited per phone and per IP."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import SmsCode, User
from accounts.services import LoginCodeError, login_code_check, login_code_send
from yueqiqian.ratelimit import RateLimited

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")
PHONE = "13812345678"


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """Ask for a code the way the page does; the SMS task runs when the request commits."""

    def _send(phone=PHONE, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(LOGIN, {"action": "send", "phone": phone}, **extra)

    return _send


def log_in(client, code, phone=PHONE, **extra):
    return client.post(LOGIN, {"action": "login", "phone": phone, "code": code}, **extra)


def test_a_code_is_sent_by_sms_and_logs_the_user_in(client, sms_outbox, send):
    response = send()
    assert response.status_code == 200
    assert "验证码已发送至 138****5678" in response.content.decode()
    code = sms_outbox.last_code(PHONE)

    response = log_in(client, code)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(phone=PHONE)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not user.has_usable_password()


def test_only_a_keyed_hash_of_the_code_is_stored(sms_outbox, send):
    send()
    code = sms_outbox.last_code(PHONE)

    stored = SmsCode.objects.get(phone=PHONE)
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64


def test_a_wrong_code_is_refused_with_a_message_and_keeps_the_phone(client, sms_outbox, send):
    send()
    code = sms_outbox.last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    response = log_in(client, wrong)

    body = response.content.decode()
    assert response.status_code == 400
    assert "验证码错误，还可以再试 4 次" in body
    assert f'value="{PHONE}"' in body
    assert "_auth_user_id" not in client.session


def test_an_expired_code_is_refused(client, sms_outbox, settings, send):
    send()
    code = sms_outbox.last_code(PHONE)

    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.YQ_SMS_CODE_TTL_SECONDS + 1)
    ):
        response = log_in(client, code)

    assert response.status_code == 400
    assert "验证码已失效，请重新获取" in response.content.decode()
    assert not User.objects.filter(phone=PHONE).exists()


def test_a_code_works_once(client, sms_outbox, send):
    send()
    code = sms_outbox.last_code(PHONE)
    assert log_in(client, code).status_code == 302
    client.logout()

    response = log_in(client, code)

    assert response.status_code == 400
    assert "验证码已失效" in response.content.decode()


def test_a_new_code_replaces_the_previous_one():
    first = login_code_send(phone=PHONE, ip="10.0.0.1")
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        second = login_code_send(phone=PHONE, ip="10.0.0.1")

        with pytest.raises(LoginCodeError):
            login_code_check(phone=PHONE, code=first.code, ip="10.0.0.1")
        assert login_code_check(phone=PHONE, code=second.code, ip="10.0.0.1").phone == PHONE


def test_five_wrong_guesses_spend_the_code():
    sent = login_code_send(phone=PHONE, ip="10.0.0.1")
    wrong = f"{(int(sent.code) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(LoginCodeError):
            login_code_check(phone=PHONE, code=wrong, ip="10.0.0.1")

    with pytest.raises(LoginCodeError, match="验证码已失效"):
        login_code_check(phone=PHONE, code=sent.code, ip="10.0.0.1")


def test_a_second_code_within_a_minute_is_refused_for_the_same_phone(send):
    assert send().status_code == 200

    response = send()

    assert response.status_code == 429
    assert "操作过于频繁" in response.content.decode()
    assert SmsCode.objects.filter(phone=PHONE).count() == 1


def test_sending_is_limited_per_phone_per_day():
    start = timezone.now().replace(hour=1, minute=0)
    for minute in range(10):
        with time_machine.travel(start + timedelta(minutes=2 * minute)):
            login_code_send(phone=PHONE, ip=f"10.0.0.{minute}")

    with time_machine.travel(start + timedelta(minutes=30)), pytest.raises(RateLimited):
        login_code_send(phone=PHONE, ip="10.0.1.1")


def test_sending_is_limited_per_ip(settings, send):
    limit, _ = settings.YQ_RATE_LIMITS["sms_send_ip_hour"]
    for n in range(limit):
        assert send(phone=f"139{n:08d}").status_code == 200

    response = send(phone="13700000000")

    assert response.status_code == 429
    assert not SmsCode.objects.filter(phone="13700000000").exists()


def test_checking_is_limited_per_phone_even_with_fresh_codes(settings):
    limit = 3
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "sms_check_phone": (limit, 3600)}
    start = timezone.now().replace(minute=0, second=0)  # all attempts in one hourly window
    failures = 0
    while failures < limit:
        with time_machine.travel(start + timedelta(seconds=61 * (failures + 1))):
            sent = login_code_send(phone=PHONE, ip=f"10.1.0.{failures}")
            wrong = f"{(int(sent.code) + 1) % 10**6:06d}"
            with pytest.raises(LoginCodeError):
                login_code_check(phone=PHONE, code=wrong, ip=f"10.2.0.{failures}")
            failures += 1

    with time_machine.travel(start + timedelta(seconds=61 * (limit + 1))):
        sent = login_code_send(phone=PHONE, ip="10.3.0.1")
        with pytest.raises(RateLimited):
            login_code_check(phone=PHONE, code=sent.code, ip="10.3.0.2")


def test_checking_is_limited_per_ip(client, settings):
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "sms_check_ip": (3, 3600)}
    for n in range(3):
        log_in(client, "000000", phone=f"136{n:08d}")

    response = log_in(client, "000000", phone="13500000000")

    assert response.status_code == 429
    assert "操作过于频繁" in response.content.decode()


@pytest.mark.parametrize(
    ("phone", "message"),
    [("", "请输入手机号"), ("1381234567", "请输入正确的11位手机号"), ("23812345678", "请输入正确")],
)
def test_a_bad_phone_gets_a_chinese_message_on_the_same_page(phone, message, send):
    response = send(phone=phone)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SmsCode.objects.exists()


def test_the_code_is_shown_on_the_page_only_while_debug(settings, sms_outbox, send):
    settings.DEBUG = False
    body = send().content.decode()
    assert 'data-testid="debug-code"' not in body

    settings.DEBUG = True
    body = send(phone="13912345678").content.decode()
    assert f'data-testid="debug-code">{sms_outbox.last_code("13912345678")}<' in body


def test_htmx_login_answers_with_a_client_redirect_to_next(client, sms_outbox, send):
    send(headers={"HX-Request": "true"})
    code = sms_outbox.last_code(PHONE)

    response = client.post(
        LOGIN,
        {"action": "login", "phone": PHONE, "code": code, "next": reverse("orders:list")},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("orders:list")


def test_htmx_errors_swap_only_the_form(client):
    response = client.post(
        LOGIN, {"action": "login", "phone": PHONE, "code": "12"}, headers={"HX-Request": "true"}
    )

    body = response.content.decode()
    assert "验证码为6位数字" in body
    assert "<html" not in body


def test_next_must_stay_on_this_site(client, sms_outbox, send):
    send()
    code = sms_outbox.last_code(PHONE)

    response = client.post(
        LOGIN, {"action": "login", "phone": PHONE, "code": code, "next": "https://evil.example/"}
    )

    assert response["Location"] == reverse("home")


def test_logout_needs_post_and_ends_the_session(client, user):
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405

    response = client.post(reverse("accounts:logout"))

    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


def test_a_deactivated_user_cannot_log_in(client, sms_outbox, send):
    User.objects.create_user(PHONE, is_active=False)
    send()

    response = log_in(client, sms_outbox.last_code(PHONE))

    assert "该账号已停用" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_purge_task_deletes_codes_a_day_after_expiry_and_keeps_the_rest():
    from accounts.tasks import sms_codes_purge

    old = login_code_send(phone=PHONE, ip="10.0.0.1")
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=10)):
        login_code_send(phone="13912345678", ip="10.0.0.1")

        deleted = sms_codes_purge()

    assert deleted == 1
    assert not SmsCode.objects.filter(phone=old.phone).exists()
    assert SmsCode.objects.filter(phone="13912345678").exists()


def test_the_resend_countdown_survives_a_wrong_code(send, client, sms_outbox):
    send()
    wrong = f"{(int(sms_outbox.last_code(PHONE)) + 1) % 10**6:06d}"

    body = log_in(client, wrong).content.decode()

    countdown = int(re.search(r'data-countdown="(\d+)"', body).group(1))
    assert 50 <= countdown <= 60


def test_no_countdown_when_the_minute_has_passed(send, client, sms_outbox):
    send()
    code = sms_outbox.last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        body = log_in(client, wrong).content.decode()

    assert "data-countdown" not in body
