"""法定代表人刷脸验证授权: the applicant's share link, and the legal representative who opens it
without an account, checks the order, passes a face check as the enterprise's legal
representative and authorizes it — once, before it expires, on the order it was made for."""

import base64
import hashlib
import io
import logging
from datetime import datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.faceauth import MISMATCH_MESSAGE
from authorization import services
from authorization.models import ShareLink
from authorization.services import (
    LEGAL_REP_MISMATCH_MESSAGE,
    ShareLinkError,
    ShareLinkInvalid,
    share_link_create,
)
from orders.models import Order
from orders.services import agreement_accept, order_transition
from orders.states import AuthorizationMethod, OrderStatus
from tests.factories import (
    AgreementVersionFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)
from yueqiqian.templatetags.yq import yuan

pytestmark = pytest.mark.django_db
LEGAL_REP_NAME = "张三"
LEGAL_REP_ID = make_id_number(sequence="777")
MASKED_LEGAL_REP_ID = f"{LEGAL_REP_ID[:4]}**********{LEGAL_REP_ID[-4:]}"
OTHER_ID = make_id_number(region="440104", sequence="555")


@pytest.fixture(autouse=True)
def _face_sandbox(settings):
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.SandboxFaceCheckProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    settings.YQ_PUBLIC_BASE_URL = "https://yqq.example.cn"


@pytest.fixture
def applicant(client):
    user = UserFactory()
    verified(user, real_name="李四")
    client.force_login(user)
    return user


def submit(order: Order) -> Order:
    agreement = AgreementVersionFactory(ca=order.ca, version=1)
    agreement_accept(order=order, actor=order.applicant, agreement=agreement, ip="", user_agent="")
    order.refresh_from_db()
    return order


@pytest.fixture
def order(applicant, package):
    """In province (广州), awaiting authorization, the legal representative someone else."""
    return submit(
        filled_application(
            applicant=applicant,
            package=package,
            legal_rep_name=LEGAL_REP_NAME,
            legal_rep_id=LEGAL_REP_ID,
            extra_seats=2,
        )
    )


@pytest.fixture
def legal_rep():
    """The legal representative's phone: no account, no login."""
    return Client()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 640), (222, 190, 160)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def check(client, token, *, name=LEGAL_REP_NAME, id_number=LEGAL_REP_ID, **extra):
    return client.post(
        reverse("authorization:share_check", args=[token]),
        {
            "real_name": name,
            "id_number": id_number,
            "selfie": SimpleUploadedFile("selfie.jpg", jpeg(), "image/jpeg"),
        },
        **extra,
    )


def open_link(client, token):
    return client.get(reverse("authorization:share_open", args=[token]))


def unchanged(order: Order) -> bool:
    order.refresh_from_db()
    return (
        order.status == OrderStatus.AWAITING_AUTHORIZATION
        and order.authorization_method == ""
        and not order.events.filter(to_status=OrderStatus.AUTHORIZED).exists()
    )


# ---- The token ---------------------------------------------------------------------------------


def test_a_token_has_256_random_bits_and_only_its_hash_is_stored(client, order):
    response = client.post(reverse("authorization:share_create", args=[order.number]))
    link = ShareLink.objects.get(order=order)
    token = response.context["url"].rstrip("/").rsplit("/", 1)[-1]

    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # Nowhere in the database: not in the link, not in the applicant's session, nor anywhere.
    for model in apps.get_models():
        for row in model.objects.values_list():
            assert not any(token in str(value) for value in row), model


def test_each_link_gets_its_own_token(order):
    tokens = set()
    for _ in range(5):
        _, token = share_link_create(order=order, actor=order.applicant)
        tokens.add(token)

    assert len(tokens) == 5
    assert ShareLink.objects.filter(order=order).count() == 5


def test_a_link_lasts_the_configured_hours(settings, order):
    settings.YQ_SHARE_LINK_TTL_HOURS = 24
    with time_machine.travel("2026-11-27 10:00 +0800", tick=False):
        link, _ = share_link_create(order=order, actor=order.applicant)

    assert link.expires_at == datetime.fromisoformat("2026-11-28T10:00+08:00")


# ---- Who may make one ----------------------------------------------------------------------------


def test_the_card_shows_the_link_its_qr_code_and_expiry_and_is_never_cached(client, order):
    response = client.post(reverse("authorization:share_create", args=[order.number]))

    body = response.content.decode()
    url = response.context["url"]
    assert response.status_code == 200
    assert url.startswith("https://yqq.example.cn/a/")
    assert f'value="{url}"' in body
    assert "复制链接" in body
    assert ">分享</button>" in body
    assert "生成新链接会使旧链接失效" in body
    qr = response.context["qr"]
    assert f'src="{qr}"' in body
    png = Image.open(io.BytesIO(base64.b64decode(qr.removeprefix("data:image/png;base64,"))))
    assert png.format == "PNG"
    assert png.width >= 290  # ten pixels a module, with the quiet zone
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_new_link_revokes_the_old_one(legal_rep, order):
    old, old_token = share_link_create(order=order, actor=order.applicant)
    _, new_token = share_link_create(order=order, actor=order.applicant)

    response = open_link(legal_rep, old_token)

    assert response.status_code == 410
    assert "链接已作废" in response.content.decode()
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert open_link(legal_rep, new_token).status_code == 200
    assert check(legal_rep, old_token).status_code == 410
    assert unchanged(order)


def test_an_expired_unused_link_is_revoked_by_the_next_one(order):
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        old, _ = share_link_create(order=order, actor=order.applicant)

    share_link_create(order=order, actor=order.applicant)

    old.refresh_from_db()
    assert old.revoked_at is not None


def test_an_out_of_province_order_cannot_have_a_link(client, applicant, package):
    shanghai = submit(
        filled_application(
            applicant=applicant,
            package=package,
            credit_code=make_credit_code("91310115MA1K4AB3D"),
        )
    )

    with pytest.raises(ShareLinkError, match="省外企业"):
        share_link_create(order=shanghai, actor=applicant)
    response = client.post(reverse("authorization:share_create", args=[shanghai.number]))

    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[shanghai.number])
    assert not ShareLink.objects.exists()
    page = client.get(reverse("orders:detail", args=[shanghai.number])).content.decode()
    assert "省外企业仅支持对公银行账号转账验证授权" in page
    assert "分享给法定代表人授权" not in page


def test_another_user_cannot_make_a_link_or_see_a_card_for_the_order(client, order):
    stranger = UserFactory()
    verified(stranger, real_name="王五")
    client.force_login(stranger)
    url = reverse("authorization:share_create", args=[order.number])

    assert client.post(url).status_code == 404
    assert client.get(url).status_code == 404
    with pytest.raises(ShareLinkError):
        share_link_create(order=order, actor=stranger)
    assert not ShareLink.objects.exists()


def test_only_an_order_awaiting_authorization_can_have_a_link(applicant, package):
    draft = filled_application(applicant=applicant, package=package)

    with pytest.raises(ShareLinkError, match="不需要"):
        share_link_create(order=draft, actor=applicant)


def test_a_legal_representative_applying_himself_confirms_instead(client, package):
    user = UserFactory()
    verified(user, real_name=LEGAL_REP_NAME, id_number=LEGAL_REP_ID)
    own = submit(filled_application(applicant=user, package=package, legal_rep_id=LEGAL_REP_ID))

    with pytest.raises(ShareLinkError, match="直接确认"):
        share_link_create(order=own, actor=user)


def test_an_anonymous_visitor_is_sent_to_log_in(order):
    response = Client().post(reverse("authorization:share_create", args=[order.number]))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not ShareLink.objects.exists()


# ---- The legal representative's pages ------------------------------------------------------------


def test_the_link_shows_the_order_without_login_and_without_id_numbers(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    response = open_link(legal_rep, token)

    body = response.content.decode()
    assert response.status_code == 200
    for shown in [
        order.enterprise_name,
        order.credit_code,
        order.ca.name,
        order.package.name,
        "1年",
        "2人",
        f"¥{yuan(order.amount_fen)}",
        "李*",
        "张*",
        f"{order.applicant_phone[:3]}****{order.applicant_phone[-4:]}",
        "确认授权",
        "确认订单",
        "人脸识别",
    ]:
        assert shown in body, shown
    assert LEGAL_REP_ID not in body
    assert "李四" not in body
    assert order.applicant_phone not in body
    assert f'href="{reverse("authorization:share_check", args=[token])}"' in body


def test_the_pages_of_a_link_are_never_cached_nor_referred(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    for response in [
        open_link(legal_rep, token),
        legal_rep.get(reverse("authorization:share_check", args=[token])),
        open_link(legal_rep, "x" * 43),
    ]:
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "no-referrer"


def test_the_check_page_asks_for_name_id_and_a_selfie_from_the_front_camera(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    body = legal_rep.get(reverse("authorization:share_check", args=[token])).content.decode()

    assert '<label for="id_real_name">姓名</label>' in body
    assert '<label for="id_id_number">身份证号</label>' in body
    assert 'accept="image/*"' in body
    assert 'capture="user"' in body
    assert 'aria-current="step"><span class="id-step-dot">2</span>' in body


def test_a_forged_link_is_a_404_page_in_chinese(legal_rep, order):
    share_link_create(order=order, actor=order.applicant)

    for token in ["A" * 43, "short", "-_-"]:
        response = open_link(legal_rep, token)
        assert response.status_code == 404
        assert "链接无效" in response.content.decode()
    assert check(legal_rep, "A" * 43).status_code == 404
    assert unchanged(order)


def test_an_expired_link_is_refused_and_changes_nothing(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1)):
        page = open_link(legal_rep, token)
        post = check(legal_rep, token)

    assert page.status_code == 410
    assert "链接已过期" in page.content.decode()
    assert post.status_code == 410
    assert unchanged(order)
    assert ShareLink.objects.get().used_at is None


def test_a_link_of_an_order_that_moved_on_is_refused(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)
    order_transition(order=order, to=OrderStatus.CANCELLED, actor=order.applicant)

    page = open_link(legal_rep, token)
    post = check(legal_rep, token)

    assert page.status_code == 410
    assert "订单状态已变化" in page.content.decode()
    assert post.status_code == 410
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert ShareLink.objects.get().used_at is None


def test_the_legal_representative_authorizes_the_order(legal_rep, order):
    link, token = share_link_create(order=order, actor=order.applicant)

    response = check(legal_rep, token, name=" 张 三", id_number=LEGAL_REP_ID.lower())

    assert response.status_code == 302
    assert response["Location"] == reverse("authorization:share_done", args=[token])
    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED
    assert order.authorization_method == AuthorizationMethod.SHARE_LINK
    event = order.events.get(to_status=OrderStatus.AUTHORIZED)
    assert event.actor is None
    assert event.actor_label == "法定代表人（分享链接）"
    assert event.from_status == OrderStatus.AWAITING_AUTHORIZATION
    assert event.reason == "法定代表人张三刷脸验证授权"
    link.refresh_from_db()
    assert link.used_at is not None
    done = legal_rep.get(response["Location"])
    assert "授权成功，申请人可以继续支付" in done.content.decode()
    assert "no-store" in done["Cache-Control"]


def test_a_used_link_shows_it_was_used(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)
    check(legal_rep, token)

    page = open_link(Client(), token)
    again = check(Client(), token)

    assert page.status_code == 410
    assert "链接已使用" in page.content.decode()
    assert again.status_code == 410
    assert order.events.filter(to_status=OrderStatus.AUTHORIZED).count() == 1


def test_htmx_gets_the_success_page_as_a_client_redirect(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    response = check(legal_rep, token, headers={"HX-Request": "true"})

    assert response["HX-Redirect"] == reverse("authorization:share_done", args=[token])


@pytest.mark.parametrize(
    ("name", "id_number"),
    [("王五", LEGAL_REP_ID), (LEGAL_REP_NAME, OTHER_ID)],
    ids=["name differs", "id differs"],
)
def test_someone_else_is_refused_counted_and_logged(legal_rep, order, caplog, name, id_number):
    _, token = share_link_create(order=order, actor=order.applicant)

    with caplog.at_level(logging.WARNING, logger="authorization.services"):
        response = check(legal_rep, token, name=name, id_number=id_number)

    body = response.content.decode()
    assert response.status_code == 400
    assert LEGAL_REP_MISMATCH_MESSAGE in body
    assert f'value="{name}"' in body
    assert f'value="{id_number}"' in body
    assert ShareLink.objects.get().failed_checks == 1
    (record,) = [
        r
        for r in caplog.records
        if r.name == "authorization.services" and r.levelno == logging.WARNING
    ]
    text = record.getMessage()
    assert order.number in text
    assert MASKED_LEGAL_REP_ID in text
    assert LEGAL_REP_ID not in text
    assert id_number not in text
    assert unchanged(order)


def test_a_failed_face_check_is_refused_with_the_providers_message(
    settings, legal_rep, order, caplog
):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [LEGAL_REP_ID]
    _, token = share_link_create(order=order, actor=order.applicant)

    with caplog.at_level(logging.WARNING):
        response = check(legal_rep, token)

    assert response.status_code == 400
    assert MISMATCH_MESSAGE in response.content.decode()
    assert ShareLink.objects.get().failed_checks == 1
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"order={order.number}" in logged
    assert MASKED_LEGAL_REP_ID in logged
    assert LEGAL_REP_ID not in logged
    assert unchanged(order)
    # Retryable: the link still works.
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    assert check(legal_rep, token).status_code == 302


def test_checks_on_a_link_are_limited(settings, legal_rep, order):
    limit, _ = settings.YQ_RATE_LIMITS["share_link_check"]
    _, token = share_link_create(order=order, actor=order.applicant)
    for _ in range(limit):
        assert check(legal_rep, token, name="王五").status_code == 400

    response = check(Client(REMOTE_ADDR="10.0.0.9"), token)

    assert response.status_code == 429
    assert "操作过于频繁" in response.content.decode()
    assert ShareLink.objects.get().failed_checks == limit
    assert unchanged(order)


def test_opening_links_is_limited_per_ip(settings, legal_rep, order):
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "share_link_open_ip": (2, 3600)}
    _, token = share_link_create(order=order, actor=order.applicant)
    open_link(legal_rep, "A" * 43)
    open_link(legal_rep, "B" * 43)

    response = open_link(legal_rep, token)

    assert response.status_code == 429
    assert "操作过于频繁" in response.content.decode()
    assert open_link(Client(REMOTE_ADDR="10.0.0.9"), token).status_code == 200


def test_a_form_error_keeps_what_was_typed_and_counts_nothing(legal_rep, order):
    _, token = share_link_create(order=order, actor=order.applicant)

    response = legal_rep.post(
        reverse("authorization:share_check", args=[token]),
        {"real_name": LEGAL_REP_NAME, "id_number": LEGAL_REP_ID},
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "请拍摄人脸照片" in body
    assert f'value="{LEGAL_REP_ID}"' in body
    assert ShareLink.objects.get().failed_checks == 0


def test_the_check_form_needs_its_csrf_token(order):
    _, token = share_link_create(order=order, actor=order.applicant)

    response = check(Client(enforce_csrf_checks=True), token)

    assert response.status_code == 403
    assert unchanged(order)


def test_a_link_spent_during_the_face_check_authorizes_nothing_twice(monkeypatch, order):
    link, token = share_link_create(order=order, actor=order.applicant)
    real_check = services.face_check_run

    def check_while_another_request_wins(**kwargs):
        result = real_check(**kwargs)
        ShareLink.objects.filter(pk=link.pk).update(used_at=timezone.now())
        return result

    monkeypatch.setattr(services, "face_check_run", check_while_another_request_wins)

    with pytest.raises(ShareLinkInvalid) as exc:
        services.share_link_authorize(
            token=token,
            real_name=LEGAL_REP_NAME,
            id_number=LEGAL_REP_ID,
            selfie=jpeg(),
            content_type="image/jpeg",
            ip="10.0.0.1",
        )

    assert exc.value.kind == "used"
    assert unchanged(order)


def test_an_order_moved_during_the_face_check_leaves_the_link_unspent(monkeypatch, order):
    link, token = share_link_create(order=order, actor=order.applicant)
    real_check = services.face_check_run

    def check_while_the_order_is_cancelled(**kwargs):
        result = real_check(**kwargs)
        order_transition(
            order=Order.objects.get(pk=order.pk), to=OrderStatus.CANCELLED, actor_label="系统"
        )
        return result

    monkeypatch.setattr(services, "face_check_run", check_while_the_order_is_cancelled)

    with pytest.raises(ShareLinkInvalid) as exc:
        services.share_link_authorize(
            token=token,
            real_name=LEGAL_REP_NAME,
            id_number=LEGAL_REP_ID,
            selfie=jpeg(),
            content_type="image/jpeg",
            ip="10.0.0.1",
        )

    assert exc.value.kind == "order_moved"
    link.refresh_from_db()
    assert link.used_at is None
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


# ---- The applicant's order page ------------------------------------------------------------------


def test_choosing_the_share_link_is_a_button_on_the_authorization_page(client, order):
    body = client.get(reverse("orders:authorize", args=[order.number])).content.decode()

    assert f'action="{reverse("authorization:share_create", args=[order.number])}"' in body
    assert ">分享给法定代表人授权</button>" in body


def test_the_order_page_offers_the_link_and_polls_only_while_one_is_live(client, order):
    url = reverse("orders:detail", args=[order.number])

    before = client.get(url).content.decode()
    assert ">分享给法定代表人授权</button>" in before
    assert "every 3s" not in before

    share_link_create(order=order, actor=order.applicant)
    during = client.get(url).content.decode()
    assert 'hx-trigger="every 3s"' in during
    assert "等待法定代表人确认授权" in during

    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        expired = client.get(url).content.decode()
    assert "every 3s" not in expired


def test_the_order_page_shows_authorized_and_pay_after_the_link_is_used(
    client, legal_rep, order, django_assert_max_num_queries
):
    _, token = share_link_create(order=order, actor=order.applicant)
    url = reverse("orders:detail", args=[order.number]) + "?fragment=status"
    waiting = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "every 3s" in waiting
    assert "待授权" in waiting

    check(legal_rep, token)
    with django_assert_max_num_queries(6):
        fragment = client.get(url, headers={"HX-Request": "true"})

    body = fragment.content.decode()
    assert "已授权待支付" in body
    assert ">支付</button>" in body
    assert "every 3s" not in body
    assert "分享给法定代表人授权" not in body
    assert "<html" not in body
    steps = body.split('id="order-steps" hx-swap-oob="true"')[1]
    assert 'aria-current="step"' in steps.split("支付")[0].rsplit("<li", 1)[1]
