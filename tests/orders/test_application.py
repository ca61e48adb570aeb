"""The application (二)1–3: 【办理】 needs 实名认证, four sections saved as the user goes, one open
application per enterprise, the agreement, and the legal representative's own confirmation."""

import re

import pytest
from django.urls import reverse

from certificates.models import EnterpriseCertificate
from orders.models import AgreementAcceptance, Order
from orders.services import (
    ApplicationError,
    order_draft_for,
    order_section_save,
    order_sections_missing,
)
from orders.states import AuthorizationMethod, OrderStatus
from tests.factories import (
    AgreementVersionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)

pytestmark = pytest.mark.django_db
LEGAL_REP_ID = make_id_number(sequence="777")


@pytest.fixture
def applicant(client):
    user = UserFactory()
    verified(user, real_name="李四")
    client.force_login(user)
    return user


@pytest.fixture
def legal_rep(client):
    user = UserFactory()
    verified(user, real_name="张三", id_number=LEGAL_REP_ID)
    client.force_login(user)
    return user


@pytest.fixture
def agreement(package):
    return AgreementVersionFactory(ca=package.ca, version=1, title="数字证书业务协议书")


def section_url(order, name):
    return reverse("orders:apply_section", args=[order.number, name])


def test_apply_sends_an_unverified_user_to_identity_first(client, user):
    client.force_login(user)

    response = client.get(reverse("orders:apply_start"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:identity"))
    assert not Order.objects.exists()


def test_apply_starts_a_draft_and_resumes_it(client, applicant):
    first = client.get(reverse("orders:apply_start"))
    second = client.get(reverse("orders:apply_start"))

    order = Order.objects.get(applicant=applicant)
    assert first["Location"] == second["Location"] == reverse("orders:apply", args=[order.number])
    assert order.status == OrderStatus.DRAFT
    assert order.applicant_phone == applicant.phone


def test_the_application_page_has_four_sections_a_step_indicator_and_masked_identity(
    client, applicant
):
    order = order_draft_for(applicant=applicant)

    body = client.get(reverse("orders:apply", args=[order.number])).content.decode()

    for title in ["证书申请人", "企业信息", "证书信息", "发票信息"]:
        assert f"<h3>{title}</h3>" in body
    assert 'aria-current="step"' in body
    assert applicant.identity.id_number_masked in body
    assert applicant.identity.id_number not in body
    # The first section to fill is open, the others folded (see test_application_page.py).
    for label in ["手机号", "邮箱"]:
        assert re.search(rf'<label for="id_\w+">{label}</label>', body)


def test_a_bad_credit_code_is_refused_with_the_typed_values_kept(client, applicant):
    order = order_draft_for(applicant=applicant)
    data = {
        "enterprise_name": "广州市示例科技有限公司",
        "credit_code": "91440106MA59A1B2C0",
        "legal_rep_name": "张三",
        "legal_rep_id_number": LEGAL_REP_ID,
        "enterprise_address": "广东省广州市天河区示例路1号",
    }

    response = client.post(section_url(order, "enterprise"), data, headers={"HX-Request": "true"})

    body = response.content.decode()
    assert "统一社会信用代码校验位不正确" in body
    assert 'value="广州市示例科技有限公司"' in body
    assert 'value="91440106MA59A1B2C0"' in body
    order.refresh_from_db()
    assert order.credit_code == ""


def test_a_section_is_saved_as_the_user_goes(client, applicant):
    order = order_draft_for(applicant=applicant)
    code = make_credit_code()

    response = client.post(
        section_url(order, "enterprise"),
        {
            "enterprise_name": " 广州市示例科技有限公司 ",
            "credit_code": code.lower(),
            "legal_rep_name": "张 三",
            "legal_rep_id_number": LEGAL_REP_ID,
            "enterprise_address": "广东省广州市天河区示例路1号",
        },
        headers={"HX-Request": "true"},
    )

    assert "已保存" in response.content.decode()
    order.refresh_from_db()
    assert (order.enterprise_name, order.credit_code, order.legal_rep_name) == (
        "广州市示例科技有限公司",
        code,
        "张三",
    )
    assert order.in_province


def test_the_price_is_package_times_years_plus_extra_seats(client, applicant):
    package = PackageFactory(price_per_year_fen=300_00, max_years=3)
    order = order_draft_for(applicant=applicant)

    response = client.post(
        section_url(order, "certificate"),
        {"ca": package.ca.pk, "package": package.pk, "years": 2, "extra_seats": 3},
        headers={"HX-Request": "true"},
    )

    order.refresh_from_db()
    assert order.amount_fen == 300_00 * 2 + 3 * 100_00 * 2
    assert "¥1,200.00" in response.content.decode()
    assert 'hx-swap-oob="true"' in response.content.decode()


def test_a_package_of_another_ca_or_years_it_does_not_offer_are_refused(client, applicant):
    package = PackageFactory(max_years=2)
    other = PackageFactory()
    order = order_draft_for(applicant=applicant)

    client.post(
        section_url(order, "certificate"),
        {"ca": package.ca.pk, "package": other.pk, "years": 1, "extra_seats": 0},
    )
    client.post(
        section_url(order, "certificate"),
        {"ca": package.ca.pk, "package": package.pk, "years": 3, "extra_seats": 0},
    )

    order.refresh_from_db()
    assert order.package_id is None
    assert order.amount_fen == 0


def test_the_invoice_remark_is_required_when_the_title_differs(client, applicant, package):
    order = filled_application(applicant=applicant, package=package)

    response = client.post(
        section_url(order, "invoice"),
        {
            "invoice_title": "另一家公司",
            "invoice_tax_id": order.credit_code,
            "invoice_email": "a@example.cn",
            "invoice_remark": "",
        },
    )

    assert response.status_code == 400
    assert "请填写备注说明" in response.content.decode()
    order.refresh_from_db()
    assert order.invoice_title == order.enterprise_name


def submit(order):
    from certificates.selectors import agreement_current
    from orders.services import agreement_accept

    agreement = agreement_current(ca=order.ca) or AgreementVersionFactory(ca=order.ca, version=1)
    return agreement_accept(
        order=order, actor=order.applicant, agreement=agreement, ip="", user_agent=""
    )


def test_a_draft_claims_nothing_so_nobody_can_block_an_enterprise(package):
    code = make_credit_code()
    squatter = filled_application(applicant=UserFactory(), package=package, credit_code=code)

    real = filled_application(applicant=UserFactory(), package=package, credit_code=code)

    assert squatter.status == real.status == OrderStatus.DRAFT


def test_an_enterprise_with_a_submitted_application_cannot_start_another(package):
    code = make_credit_code()
    first = submit(filled_application(applicant=UserFactory(), package=package, credit_code=code))
    second = order_draft_for(applicant=UserFactory())

    with pytest.raises(ApplicationError, match="已有正在办理的申请") as excinfo:
        order_section_save(
            order=second,
            section="enterprise",
            data={
                "enterprise_name": "x公司",
                "credit_code": code,
                "legal_rep_name": "张三",
                "legal_rep_id_number": LEGAL_REP_ID,
                "enterprise_address": "广州市某路1号",
            },
        )
    assert excinfo.value.existing == first


def test_of_two_drafts_for_one_enterprise_only_the_first_submitted_goes_on(package):
    code = make_credit_code()
    first = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    second = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    submit(first)

    with pytest.raises(ApplicationError, match="已有正在办理的申请"):
        submit(second)
    second.refresh_from_db()
    assert second.status == OrderStatus.DRAFT


def test_the_database_refuses_a_second_submitted_application_for_one_enterprise(package):
    from django.db import IntegrityError, transaction

    code = make_credit_code()
    first = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    second = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    submit(first)

    # Past the service's own check, straight at the table: the index still refuses.
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=second.pk).update(status=OrderStatus.AWAITING_AUTHORIZATION)


def test_a_section_saved_from_a_stale_copy_cannot_leave_a_stale_price(package):
    order = filled_application(applicant=UserFactory(), package=package, years=1)
    stale = Order.objects.get(pk=order.pk)

    order_section_save(
        order=order,
        section="certificate",
        data={"ca": package.ca, "package": package, "years": 3, "extra_seats": 0},
    )
    order_section_save(
        order=stale,
        section="invoice",
        data={
            "invoice_title": order.enterprise_name,
            "invoice_tax_id": order.credit_code,
            "invoice_email": "b@example.cn",
            "invoice_remark": "",
        },
    )

    order.refresh_from_db()
    assert order.years == 3
    assert order.amount_fen == package.price_per_year_fen * 3


def test_an_enterprise_with_a_valid_certificate_cannot_apply(package):
    code = make_credit_code()
    done = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    Order.objects.filter(pk=done.pk).update(status=OrderStatus.CANCELLED)
    EnterpriseCertificate.objects.create(
        order=done,
        ca=package.ca,
        holder=done.applicant,
        status="valid",
        enterprise_name="x",
        credit_code=code,
        legal_rep_name="张三",
        serial_hex="abc123",
    )

    with pytest.raises(ApplicationError, match="已有有效的数字证书"):
        filled_application(applicant=UserFactory(), package=package, credit_code=code)


def test_next_step_is_refused_until_every_section_is_filled(client, applicant, agreement):
    order = order_draft_for(applicant=applicant)

    response = client.get(reverse("orders:agreement", args=[order.number]))

    assert response["Location"] == reverse("orders:apply", args=[order.number])
    assert order_sections_missing(order) == ["applicant", "enterprise", "certificate", "invoice"]


def test_the_agreement_needs_agree_ticked(client, applicant, package, agreement):
    order = filled_application(applicant=applicant, package=package)

    response = client.post(reverse("orders:agreement", args=[order.number]), {"version": "1"})

    assert response.status_code == 400
    assert "请阅读并勾选同意" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT


def test_accepting_records_version_time_ip_and_user_agent(client, applicant, package, agreement):
    order = filled_application(applicant=applicant, package=package)
    page = client.get(reverse("orders:agreement", args=[order.number])).content.decode()
    assert "数字证书业务协议书" in page
    assert "data-disabled-until-checked" in page

    response = client.post(
        reverse("orders:agreement", args=[order.number]),
        {"agree": "on", "version": "1"},
        headers={"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0"},
        REMOTE_ADDR="203.0.113.9",
    )

    assert response["Location"] == reverse("orders:authorize", args=[order.number])
    acceptance = AgreementAcceptance.objects.get(order=order)
    assert acceptance.agreement == agreement
    assert acceptance.ip_address == "203.0.113.9"
    assert "MicroMessenger" in acceptance.user_agent
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_AUTHORIZATION


def test_accepting_an_outdated_version_is_refused(client, applicant, package, agreement):
    order = filled_application(applicant=applicant, package=package)
    AgreementVersionFactory(ca=package.ca, version=2)

    response = client.post(
        reverse("orders:agreement", args=[order.number]), {"agree": "on", "version": "1"}
    )

    assert "协议已更新" in response.content.decode()
    assert not AgreementAcceptance.objects.exists()


def submitted(order, client):
    client.post(reverse("orders:agreement", args=[order.number]), {"agree": "on", "version": "1"})
    order.refresh_from_db()
    return order


def test_the_legal_representative_confirms_the_letter_and_is_authorized(
    client, legal_rep, package, agreement
):
    order = submitted(
        filled_application(applicant=legal_rep, package=package, legal_rep_id=LEGAL_REP_ID),
        client,
    )

    page = client.get(reverse("orders:authorize", args=[order.number])).content.decode()
    assert "业务授权书" in page
    assert order.enterprise_name in page
    assert LEGAL_REP_ID not in page
    response = client.post(reverse("orders:authorize", args=[order.number]))

    assert response["Location"] == reverse("orders:detail", args=[order.number])
    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED
    assert order.authorization_method == AuthorizationMethod.LEGAL_REP_SELF


def test_someone_else_in_province_gets_both_authorization_choices(
    client, applicant, package, agreement
):
    order = submitted(filled_application(applicant=applicant, package=package), client)

    page = client.get(reverse("orders:authorize", args=[order.number])).content.decode()
    confirm = client.post(reverse("orders:authorize", args=[order.number]))

    assert "法定代表人刷脸验证授权" in page
    assert "对公银行账号转账验证授权" in page
    assert confirm.status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_AUTHORIZATION


def test_an_out_of_province_enterprise_is_offered_bank_transfer_only(
    client, applicant, package, agreement
):
    shanghai = make_credit_code("91310115MA1K4AB3D")
    order = submitted(
        filled_application(applicant=applicant, package=package, credit_code=shanghai), client
    )

    page = client.get(reverse("orders:authorize", args=[order.number])).content.decode()

    assert "法定代表人刷脸验证授权" not in page.split("page-note")[-1]
    assert "对公银行账号转账验证授权" in page


def test_another_users_order_is_a_404_everywhere(client, package, agreement):
    owner = UserFactory()
    verified(owner)
    order = filled_application(applicant=owner, package=package)
    stranger = UserFactory()
    verified(stranger)
    client.force_login(stranger)

    for name in ["detail", "apply", "agreement", "authorize", "agreement_pdf", "letter_pdf"]:
        assert client.get(reverse(f"orders:{name}", args=[order.number])).status_code == 404
    assert client.post(section_url(order, "invoice"), {}).status_code == 404


def test_the_letter_pdf_is_only_there_for_a_complete_application(client, applicant, package):
    draft = order_draft_for(applicant=applicant)
    assert client.get(reverse("orders:letter_pdf", args=[draft.number])).status_code == 404
    order = filled_application(applicant=UserFactory(), package=package)
    verified(order.applicant)
    client.force_login(order.applicant)

    response = client.get(reverse("orders:letter_pdf", args=[order.number]))

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")


def test_saving_the_enterprise_refreshes_the_invoice_prefill(client, applicant):
    order = order_draft_for(applicant=applicant)
    code = make_credit_code()

    response = client.post(
        section_url(order, "enterprise"),
        {
            "enterprise_name": "广州市示例科技有限公司",
            "credit_code": code,
            "legal_rep_name": "张三",
            "legal_rep_id_number": LEGAL_REP_ID,
            "enterprise_address": "广东省广州市天河区示例路1号",
        },
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    assert '<section class="card form-section" id="invoice" hx-swap-oob="true">' in body
    assert f'value="{code}"' in body.split('id="invoice"')[1]


def test_the_accepted_agreement_downloads_as_a_pdf_with_its_record(
    client, applicant, package, agreement
):
    import shutil
    import subprocess

    order = submitted(filled_application(applicant=applicant, package=package), client)

    response = client.get(reverse("orders:agreement_pdf", args=[order.number]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext missing: run scripts/system-deps.sh"
    text = subprocess.run(
        [pdftotext, "-", "-"], input=response.content, capture_output=True, check=True
    ).stdout.decode()
    assert "数字证书业务协议书" in text
    assert "v1" in text
    assert order.number in text


def test_no_agreement_pdf_before_acceptance(client, applicant, package, agreement):
    order = filled_application(applicant=applicant, package=package)

    assert client.get(reverse("orders:agreement_pdf", args=[order.number])).status_code == 404


def issuing_order(client, legal_rep, package) -> Order:
    """An application the legal rep (logged in on `client`) submitted, authorized and paid:
    签发中."""
    from orders.services import order_transition

    order = submitted(
        filled_application(applicant=legal_rep, package=package, legal_rep_id=LEGAL_REP_ID),
        client,
    )
    client.post(reverse("orders:authorize", args=[order.number]))
    order.refresh_from_db()
    order_transition(order=order, to=OrderStatus.ISSUING, actor_label="微信支付")
    return order


def test_the_order_page_follows_issuance_by_itself(client, legal_rep, package, agreement):
    from orders.services import order_transition

    order = issuing_order(client, legal_rep, package)
    url = reverse("orders:detail", args=[order.number])

    page = client.get(url).content.decode()
    poll = f'hx-get="{url}?fragment=status&amp;seen=issuing" hx-trigger="every 2s"'
    assert poll in page
    assert "签发中" in page
    poll_url = f"{url}?fragment=status&seen=issuing"
    # Still 签发中: an empty answer, and htmx keeps the panel it shows.
    still = client.get(poll_url, headers={"HX-Request": "true"})
    assert still.status_code == 204
    assert still.content == b""

    order.refresh_from_db()
    order_transition(order=order, to=OrderStatus.COMPLETED, actor_label="系统")
    fragment = client.get(poll_url, headers={"HX-Request": "true"})

    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "已完成" in body
    assert "every 2s" not in body
    assert "<html" not in body


def test_the_status_poll_answers_unchanged_with_one_query_of_its_own(
    client, legal_rep, package, agreement, django_assert_num_queries
):
    order = issuing_order(client, legal_rep, package)
    poll_url = reverse("orders:detail", args=[order.number]) + "?fragment=status&seen=issuing"
    client.get(poll_url, headers={"HX-Request": "true"})  # the session is cached from here on

    # The session and the user (as every logged-in page), then the order's status: no more.
    with django_assert_num_queries(3):
        response = client.get(poll_url, headers={"HX-Request": "true"})
    assert response.status_code == 204


def test_the_status_poll_never_answers_empty_for_someone_elses_order(
    client, legal_rep, package, agreement
):
    order = issuing_order(client, legal_rep, package)
    client.force_login(UserFactory())
    poll_url = reverse("orders:detail", args=[order.number]) + "?fragment=status&seen=issuing"

    assert client.get(poll_url, headers={"HX-Request": "true"}).status_code == 404
    # A status the panel can't wait quietly in always gets the panel itself.
    client.force_login(legal_rep)
    other = client.get(
        poll_url.replace("seen=issuing", "seen=awaiting_authorization"),
        headers={"HX-Request": "true"},
    )
    assert other.status_code == 200
    assert "签发中" in other.content.decode()


def test_an_unfinished_order_continues_where_it_stopped(client, applicant, package, agreement):
    order = filled_application(applicant=applicant, package=package)
    assert (
        f'href="{reverse("orders:agreement", args=[order.number])}"'
        in client.get(reverse("orders:detail", args=[order.number])).content.decode()
    )

    submitted(order, client)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert f'href="{reverse("orders:authorize", args=[order.number])}"' in page


def test_the_applicant_cancels_an_unpaid_order_and_frees_the_enterprise(
    client, applicant, package, agreement
):
    code = make_credit_code()
    order = submitted(
        filled_application(applicant=applicant, package=package, credit_code=code), client
    )
    assert "取消订单" in client.get(reverse("orders:detail", args=[order.number])).content.decode()

    response = client.post(reverse("orders:cancel", args=[order.number]))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    again = filled_application(applicant=UserFactory(), package=package, credit_code=code)
    assert submit(again).status == OrderStatus.AWAITING_AUTHORIZATION


def test_a_paid_order_cannot_be_cancelled_by_the_applicant(client, legal_rep, package, agreement):
    order = submitted(
        filled_application(applicant=legal_rep, package=package, legal_rep_id=LEGAL_REP_ID), client
    )
    client.post(reverse("orders:authorize", args=[order.number]))

    client.post(reverse("orders:cancel", args=[order.number]))

    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED


def test_nobody_else_can_cancel_an_order(client, package):
    owner = UserFactory()
    order = filled_application(applicant=owner, package=package)
    client.force_login(UserFactory())

    assert client.post(reverse("orders:cancel", args=[order.number])).status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT
