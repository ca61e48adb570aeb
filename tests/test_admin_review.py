"""The two reviews of a bank-transfer order: 客服 first, then the CA's own reviewer. A rejection
needs a reason; one decision per step, whoever races; an approval by the CA goes to the same
issuance as a WeChat payment; nobody reviews another CA's order or another role's step."""

import io
import itertools
import secrets

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from reportlab.pdfgen import canvas

from accounts.models import User
from authorization.models import BankTransfer
from authorization.review import (
    ReviewNotAllowed,
    ReviewReasonInvalid,
    ca_review,
    review_stage_for,
    staff_role,
    support_review,
)
from certificates.models import CAInstitution, EnterpriseCertificate
from orders.models import Order
from orders.services import order_transition
from orders.states import AuthorizationMethod, OrderStatus
from tests.factories import PackageFactory, UserFactory, filled_application, make_credit_code
from yueqiqian.management.commands.seed_demo import DEMO_PASSWORDS, GROUP_PERMISSIONS

pytestmark = pytest.mark.django_db
_sequence = itertools.count(1)


# ---- Helpers shared with test_admin_scoping and the browser test ---------------------------


def png_bytes(color=(200, 40, 40), size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(text: str = "signed letter") -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, text)
    pdf.save()
    return buffer.getvalue()


def staff_groups() -> dict[str, Group]:
    """The staff groups with exactly the permissions seed_demo gives them."""
    groups = {}
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in (c.split(".") for c in codenames)
            ]
        )
        groups[name] = group
    return groups


def staff_user(phone: str, group: str | None, *, ca=None, superuser: bool = False) -> User:
    user = User.objects.create_user(
        phone,
        "a-long-staff-password",
        name=f"{group or '员工'}{phone[-2:]}",
        is_staff=True,
        is_superuser=superuser,
        ca_institution=ca,
    )
    if group:
        user.groups.add(staff_groups()[group])
    return user


def bank_transfer_order(
    *,
    package,
    applicant=None,
    enterprise_name: str = "广州市示例科技有限公司",
    with_files: bool = True,
) -> Order:
    """A new-certificate order waiting for 客服's review, with the applicant's three uploads
    written straight into its BankTransfer (the upload pages are not under test here)."""
    number = next(_sequence)
    applicant = applicant or UserFactory()
    order = filled_application(
        applicant=applicant,
        package=package,
        credit_code=make_credit_code(f"91440106MA5{number:06d}"),
        enterprise_name=enterprise_name,
    )
    order = order_transition(order=order, to=OrderStatus.AWAITING_AUTHORIZATION, actor=applicant)
    files = {}
    if with_files:
        files = {
            "business_license": ContentFile(png_bytes(), name="license.png"),
            "signed_letter": ContentFile(pdf_bytes(), name="letter.pdf"),
            "voucher": ContentFile(png_bytes((40, 120, 200)), name="voucher.png"),
        }
    BankTransfer.objects.create(
        order=order,
        company_name=enterprise_name,
        bank_account="6222 0200 1234 5678",
        reference=secrets.token_hex(4).upper(),
        voucher_uploaded_at=timezone.now() if with_files else None,
        **files,
    )
    return order_transition(
        order=order,
        to=OrderStatus.PENDING_REVIEW,
        actor=applicant,
        reason="上传转账凭证",
        authorization_method=AuthorizationMethod.BANK_TRANSFER,
    )


def support_approved(order: Order, support: User) -> Order:
    return support_review(order=order, reviewer=support, approve=True, reason="")


# ---- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    """Uploads and seals go to this test's own directory, not var/private."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


@pytest.fixture
def issuance_queued(monkeypatch) -> list[int]:
    import types

    import certificates.tasks

    queued: list[int] = []
    monkeypatch.setattr(
        certificates.tasks, "certificate_issue", types.SimpleNamespace(delay=queued.append)
    )
    return queued


@pytest.fixture
def other_package(db):
    return PackageFactory()


@pytest.fixture
def support(db):
    return staff_user("13900000101", "客服")


@pytest.fixture
def reviewer(package):
    return staff_user("13900000102", "CA审核员", ca=package.ca)


@pytest.fixture
def other_reviewer(other_package):
    return staff_user("13900000103", "CA审核员", ca=other_package.ca)


@pytest.fixture
def order(package):
    return bank_transfer_order(package=package)


@pytest.fixture
def at_ca_review(order, support):
    return support_approved(order, support)


def review_url(order: Order) -> str:
    return reverse("admin:orders_order_review", args=[order.pk])


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# ---- Roles -------------------------------------------------------------------------------------


def test_roles_come_from_groups_and_a_superuser_is_an_operator(support, reviewer):
    operator = staff_user("13900000109", None, superuser=True)
    no_group = staff_user("13900000108", None)
    applicant = UserFactory()

    assert staff_role(support) == "support"
    assert staff_role(reviewer) == "ca_reviewer"
    assert staff_role(operator) == "operator"
    assert staff_role(no_group) is None
    assert staff_role(applicant) is None


def test_a_ca_reviewer_put_in_the_support_group_too_stays_a_ca_reviewer(reviewer):
    reviewer.groups.add(staff_groups()["客服"])
    reviewer = User.objects.get(pk=reviewer.pk)

    assert staff_role(reviewer) == "ca_reviewer"


# ---- 客服 ----------------------------------------------------------------------------------------


def test_support_approves_and_the_order_waits_for_the_cas_review(order, support):
    support_review(order=order, reviewer=support, approve=True, reason="")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_CA_REVIEW
    event = order.events.last()
    assert (event.from_status, event.to_status) == (
        OrderStatus.PENDING_REVIEW,
        OrderStatus.PENDING_CA_REVIEW,
    )
    assert event.actor == support
    assert event.reason == "客服审核通过"
    transfer = order.bank_transfer
    assert transfer.support_decision == BankTransfer.Decision.APPROVED
    assert transfer.support_reviewer == support
    assert transfer.support_reviewed_at is not None
    assert transfer.ca_decision == BankTransfer.Decision.PENDING


def test_support_cannot_reject_without_a_reason(order, support):
    for reason in ["", "  ", "否"]:
        with pytest.raises(ReviewReasonInvalid, match="请填写原因"):
            support_review(order=order, reviewer=support, approve=False, reason=reason)

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.bank_transfer.support_decision == BankTransfer.Decision.PENDING
    assert order.events.count() == 3


def test_support_rejects_with_a_reason_the_applicant_will_see(order, support):
    support_review(
        order=order, reviewer=support, approve=False, reason="  营业执照照片不清晰，请重新上传  "
    )

    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    assert order.get_status_display() == "审核不通过"
    transfer = order.bank_transfer
    assert transfer.support_decision == BankTransfer.Decision.REJECTED
    assert transfer.support_reason == "营业执照照片不清晰，请重新上传"
    event = order.events.last()
    assert event.actor == support
    assert event.reason == "客服审核不通过：营业执照照片不清晰，请重新上传"


def test_a_superuser_may_do_the_support_review(order):
    operator = staff_user("13900000109", None, superuser=True)

    support_review(order=order, reviewer=operator, approve=True, reason="")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_CA_REVIEW


def test_a_ca_reviewer_cannot_do_the_support_review(order, reviewer):
    with pytest.raises(ReviewNotAllowed, match="只有客服"):
        support_review(order=order, reviewer=reviewer, approve=True, reason="")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_nobody_reviews_their_own_order(package, support):
    order = bank_transfer_order(package=package, applicant=support)

    with pytest.raises(ReviewNotAllowed, match="自己"):
        support_review(order=order, reviewer=support, approve=True, reason="")


def test_an_order_without_a_transfer_is_not_reviewed(package, support):
    order = filled_application(applicant=UserFactory(), package=package)
    order = order_transition(order=order, to=OrderStatus.AWAITING_AUTHORIZATION)
    order = order_transition(order=order, to=OrderStatus.PENDING_REVIEW)

    with pytest.raises(ReviewNotAllowed, match="不是对公转账"):
        support_review(order=order, reviewer=support, approve=True, reason="")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


# ---- The CA's reviewer ---------------------------------------------------------------------------


def test_the_cas_reviewer_approves_and_issuance_is_queued_once_committed(
    at_ca_review, reviewer, issuance_queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ca_review(order=at_ca_review, reviewer=reviewer, approve=True, reason="")
        assert issuance_queued == []

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.ISSUING
    event = at_ca_review.events.last()
    assert event.actor == reviewer
    assert event.reason == "CA审核通过"
    assert at_ca_review.bank_transfer.ca_decision == BankTransfer.Decision.APPROVED
    assert len(callbacks) == 1
    callbacks[0]()
    assert issuance_queued == [at_ca_review.pk]


def test_the_cas_reviewer_rejects_with_a_reason(at_ca_review, reviewer, issuance_queued):
    ca_review(order=at_ca_review, reviewer=reviewer, approve=False, reason="转账金额不符")

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.REJECTED
    transfer = at_ca_review.bank_transfer
    assert transfer.ca_decision == BankTransfer.Decision.REJECTED
    assert transfer.ca_reason == "转账金额不符"
    assert transfer.ca_reviewer == reviewer
    assert at_ca_review.events.last().reason == "CA审核不通过：转账金额不符"
    assert issuance_queued == []


def test_the_cas_reviewer_cannot_reject_without_a_reason(at_ca_review, reviewer):
    with pytest.raises(ReviewReasonInvalid):
        ca_review(order=at_ca_review, reviewer=reviewer, approve=False, reason="")

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW


def test_another_cas_reviewer_cannot_review(at_ca_review, other_reviewer):
    for approve, reason in [(True, ""), (False, "不是我们的订单")]:
        with pytest.raises(ReviewNotAllowed, match="所属CA机构"):
            ca_review(order=at_ca_review, reviewer=other_reviewer, approve=approve, reason=reason)

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW
    assert at_ca_review.bank_transfer.ca_reviewer is None


def test_a_reviewer_without_a_ca_cannot_review(at_ca_review):
    no_ca = staff_user("13900000107", "CA审核员")

    with pytest.raises(ReviewNotAllowed):
        ca_review(order=at_ca_review, reviewer=no_ca, approve=True, reason="")


def test_support_cannot_do_the_cas_review(at_ca_review, support):
    with pytest.raises(ReviewNotAllowed, match="所属CA机构"):
        ca_review(order=at_ca_review, reviewer=support, approve=True, reason="")

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW


def test_the_ca_cannot_review_before_support_has(order, reviewer):
    with pytest.raises(ReviewNotAllowed, match="不能进行CA审核"):
        ca_review(order=order, reviewer=reviewer, approve=True, reason="")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_a_finished_review_cannot_be_made_again(at_ca_review, support):
    with pytest.raises(ReviewNotAllowed, match="不能进行客服审核"):
        support_review(order=at_ca_review, reviewer=support, approve=False, reason="再看看")


def test_two_racing_decisions_end_in_one(order, support):
    colleague = staff_user("13900000104", "客服")
    stale = Order.objects.get(pk=order.pk)

    support_review(order=order, reviewer=support, approve=True, reason="")
    with pytest.raises(ReviewNotAllowed, match="已被其他人审核"):
        support_review(order=stale, reviewer=colleague, approve=False, reason="材料不全")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_CA_REVIEW
    transfer = order.bank_transfer
    assert transfer.support_reviewer == support
    assert transfer.support_reason == ""
    assert order.events.filter(from_status=OrderStatus.PENDING_REVIEW).count() == 1


def test_two_racing_ca_decisions_end_in_one(at_ca_review, reviewer, package, issuance_queued):
    colleague = staff_user("13900000105", "CA审核员", ca=package.ca)
    stale = Order.objects.get(pk=at_ca_review.pk)

    ca_review(order=at_ca_review, reviewer=reviewer, approve=False, reason="金额不符")
    with pytest.raises(ReviewNotAllowed, match="已被其他人审核"):
        ca_review(order=stale, reviewer=colleague, approve=True, reason="")

    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.REJECTED
    assert at_ca_review.bank_transfer.ca_reviewer == reviewer
    assert issuance_queued == []


def test_a_resubmitted_order_starts_a_new_round(at_ca_review, reviewer, support):
    ca_review(order=at_ca_review, reviewer=reviewer, approve=False, reason="金额不符")
    order = order_transition(
        order=at_ca_review,
        to=OrderStatus.PENDING_REVIEW,
        actor=at_ca_review.applicant,
        reason="重新上传凭证",
    )

    support_review(order=order, reviewer=support, approve=True, reason="已核对")

    transfer = BankTransfer.objects.get(order=order)
    assert transfer.support_decision == BankTransfer.Decision.APPROVED
    assert transfer.support_reason == "已核对"
    assert transfer.ca_decision == BankTransfer.Decision.PENDING
    assert transfer.ca_reason == ""
    assert order.events.filter(reason="CA审核不通过：金额不符").exists()


def test_the_cas_approval_ends_in_an_issued_certificate(
    settings, django_capture_on_commit_callbacks, sms_outbox
):
    """The same issuance as the WeChat path, run in-process as the embedded default does."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    ca = CAInstitution.objects.get(code="nanyue")
    order = bank_transfer_order(package=ca.packages.first())
    support = User.objects.get(phone=DEMO_PASSWORDS["support"][0])
    reviewer = User.objects.get(ca_institution=ca, groups__name="CA审核员")

    support_approved(order, support)
    with django_capture_on_commit_callbacks(execute=True):
        ca_review(order=order, reviewer=reviewer, approve=True, reason="款项已到账")

    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert order.certificate.status == EnterpriseCertificate.Status.VALID


# ---- The admin's review block and view -----------------------------------------------------------


def test_support_sees_the_transfer_its_uploads_and_the_form(client, order, support):
    client.force_login(support)

    body = client.get(change_url(order)).content.decode()

    transfer = order.bank_transfer
    assert "审核 · 对公银行账号转账验证授权" in body
    assert transfer.company_name in body
    assert transfer.bank_account in body
    assert transfer.reference in body
    assert order.ca.transfer_remark(ref=transfer.reference, credit_code=order.credit_code) in body
    license_url = reverse("admin:authorization_banktransfer_file", args=[transfer.pk, "voucher"])
    assert f'<img class="yq-review-thumb" src="{license_url}"' in body
    letter_url = reverse(
        "admin:authorization_banktransfer_file", args=[transfer.pk, "signed_letter"]
    )
    assert f'href="{letter_url}"' in body
    assert "打开 已签字的业务授权书（PDF）" in body
    assert f'action="{review_url(order)}"' in body
    assert 'name="stage" value="support"' in body
    assert "css/admin-review.css" in body
    assert "style=" not in body.split('id="yq-review-title"')[1].split("</section>")[0]


def test_the_form_shows_only_to_whoever_may_decide_now(client, order, support, reviewer):
    client.force_login(reviewer)
    body = client.get(change_url(order)).content.decode()
    assert "等待客服审核" in body
    assert 'name="decision"' not in body

    support_approved(order, support)

    body = client.get(change_url(order)).content.decode()
    assert 'name="stage" value="ca"' in body
    client.force_login(support)
    body = client.get(change_url(order)).content.decode()
    assert 'name="decision"' not in body
    assert f"等待{order.ca.name}的审核员审核" in body
    assert review_stage_for(support, order) is None


def test_support_approves_from_the_admin_and_is_sent_back_with_a_message(client, order, support):
    client.force_login(support)

    response = client.post(review_url(order), {"stage": "support", "decision": "approve"})

    assert response.status_code == 302
    assert response["Location"] == change_url(order)
    assert flash(response) == [f"{order.number} 客服审核通过，等待CA审核"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_CA_REVIEW


def test_a_rejection_without_a_reason_from_the_admin_shows_the_error(client, order, support):
    client.force_login(support)

    response = client.post(review_url(order), {"stage": "support", "decision": "reject"})

    assert response.status_code == 302
    assert "请填写原因" in flash(response)[0]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_the_cas_reviewer_approves_from_the_admin(
    client, at_ca_review, reviewer, issuance_queued, django_capture_on_commit_callbacks
):
    client.force_login(reviewer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(review_url(at_ca_review), {"stage": "ca", "decision": "approve"})

    assert flash(response) == [f"{at_ca_review.number} CA审核通过，证书开始签发"]
    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.ISSUING
    assert issuance_queued == [at_ca_review.pk]


def test_a_crafted_post_by_another_cas_reviewer_finds_nothing(
    client, at_ca_review, other_reviewer, issuance_queued
):
    client.force_login(other_reviewer)

    response = client.post(review_url(at_ca_review), {"stage": "ca", "decision": "approve"})

    assert response.status_code == 404
    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW
    assert issuance_queued == []


def test_a_crafted_post_for_the_support_step_by_a_ca_reviewer_is_refused(client, order, reviewer):
    client.force_login(reviewer)

    response = client.post(review_url(order), {"stage": "support", "decision": "approve"})

    assert flash(response) == ["只有客服可以进行客服审核"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_a_crafted_post_for_the_ca_step_by_support_is_refused(
    client, at_ca_review, support, issuance_queued
):
    client.force_login(support)

    response = client.post(review_url(at_ca_review), {"stage": "ca", "decision": "approve"})

    assert flash(response) == ["只有该订单所属CA机构的审核员可以进行CA审核"]
    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW
    assert issuance_queued == []


def test_a_stale_form_does_not_decide_the_next_step(client, at_ca_review, support):
    """The 客服 form, posted again after the order moved on, is refused, not applied to the
    CA's step."""
    client.force_login(support)

    response = client.post(
        review_url(at_ca_review), {"stage": "support", "decision": "reject", "reason": "再看看"}
    )

    assert "不能进行客服审核" in flash(response)[0]
    at_ca_review.refresh_from_db()
    assert at_ca_review.status == OrderStatus.PENDING_CA_REVIEW


def test_the_review_url_takes_no_get(client, order, support):
    client.force_login(support)

    assert client.get(review_url(order)).status_code == 405


def test_an_invalid_review_post_changes_nothing(client, order, support):
    client.force_login(support)

    response = client.post(review_url(order), {"stage": "support", "decision": "maybe"})

    assert "审核提交无效" in flash(response)[0]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_the_review_url_needs_a_staff_login(client, order):
    client.force_login(UserFactory())

    response = client.post(review_url(order), {"stage": "support", "decision": "approve"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
