"""【下载发票】 on a completed order: 发票生成中 until the worker renders it, then 下载 (the
applicant's only) or 发送至邮箱 (a worker mails the PDF; rate limited). A paid top-up gets an
invoice too, with its seat line."""

import pytest
from django.core import mail
from django.urls import reverse

from invoices.models import Invoice
from invoices.tasks import invoice_render
from orders.states import OrderStatus
from tests.factories import UserFactory
from tests.invoices.test_pdf import pdf_text, squeeze
from tests.orders.test_payments import paid_notification, sandbox_merchant
from tests.orders.test_topup import issued_certificate, topup

pytestmark = pytest.mark.django_db


@pytest.fixture
def applicant(db):
    return UserFactory()


@pytest.fixture
def certificate(applicant, package):
    sandbox_merchant(package.ca)
    return issued_certificate(holder=applicant, package=package)


@pytest.fixture
def order(certificate):
    """The completed new-certificate order, its invoice not rendered yet."""
    return certificate.order


@pytest.fixture
def invoiced(order):
    invoice_render(order_id=order.pk)
    return order


@pytest.fixture
def signed_in(client, applicant):
    client.force_login(applicant)
    return client


def detail_url(order) -> str:
    return reverse("orders:detail", args=[order.number])


def email_url(order) -> str:
    return reverse("orders:invoice_email", args=[order.number])


def pay_by_notification(client, order, django_capture_on_commit_callbacks):
    headers, body = paid_notification(order)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("payments:wechat_notify", args=[order.ca.code]),
            data=body,
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 200
    order.refresh_from_db()
    return order


# ---- a top-up's invoice -------------------------------------------------------------------------


def test_a_paid_top_up_gets_an_invoice_with_its_seat_line(
    client, certificate, django_capture_on_commit_callbacks, tmp_path
):
    order = pay_by_notification(
        client, topup(certificate, seats=5, years=2), django_capture_on_commit_callbacks
    )

    invoice = Invoice.objects.get(order=order)
    text = pdf_text(invoice.pdf.read(), tmp_path)
    assert invoice.amount_fen == 1000_00
    assert invoice.title == certificate.order.invoice_title
    assert squeeze("移动数字证书新增授权员工（5名 × 2年）") in text
    assert "人·年" in text
    assert "¥1,000.00" in text
    assert certificate.enterprise_name in text


def test_the_top_up_invoice_waits_for_the_commit(
    client, certificate, django_capture_on_commit_callbacks
):
    headers, body = paid_notification(topup(certificate))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            reverse("payments:wechat_notify", args=[certificate.ca.code]),
            data=body,
            content_type="application/json",
            headers=headers,
        )

    assert len(callbacks) == 1
    assert not Invoice.objects.exists()


def test_the_top_up_page_offers_the_invoice_once_paid(
    signed_in, certificate, django_capture_on_commit_callbacks
):
    order = pay_by_notification(signed_in, topup(certificate), django_capture_on_commit_callbacks)

    page = signed_in.get(detail_url(order)).content.decode()

    assert 'data-testid="invoice-get">下载发票<' in page
    assert reverse("orders:invoice_pdf", args=[order.number]) in page
    # A top-up has no agreement of its own.
    assert "相关协议" not in page


# ---- 发票生成中 and the completed order's page ---------------------------------------------------


def test_until_rendered_the_page_says_the_invoice_is_being_made_and_polls(signed_in, order):
    page = signed_in.get(detail_url(order)).content.decode()

    assert "发票生成中" in page
    assert f'hx-get="{detail_url(order)}?fragment=invoice" hx-trigger="every 3s"' in page
    assert "下载发票" not in page


def test_the_poll_answers_the_invoice_panel_and_stops_once_rendered(signed_in, order):
    url = f"{detail_url(order)}?fragment=invoice"
    waiting = signed_in.get(url, headers={"HX-Request": "true"}).content.decode()
    invoice_render(order_id=order.pk)

    ready = signed_in.get(url, headers={"HX-Request": "true"}).content.decode()

    assert waiting.lstrip().startswith('<section class="card invoice-card" id="invoice"')
    assert "发票生成中" in waiting
    assert ready.lstrip().startswith('<section class="card invoice-card" id="invoice"')
    assert "hx-trigger" not in ready.split(">", 1)[0]
    assert 'data-testid="invoice-get">下载发票<' in ready


def test_a_completed_order_shows_its_agreement_and_the_invoice_choices(signed_in, invoiced):
    page = signed_in.get(detail_url(invoiced)).content.decode()

    assert reverse("orders:agreement_pdf", args=[invoiced.number]) in page
    assert 'data-testid="invoice-get">下载发票<' in page
    assert f'href="{reverse("orders:invoice_pdf", args=[invoiced.number])}" download>下载<' in page
    assert f'action="{email_url(invoiced)}"' in page
    assert '<label for="id_email">发送至邮箱</label>' in page
    # The invoice's own address is offered first.
    assert f'value="{invoiced.invoice_email}"' in page


def test_an_unfinished_order_offers_no_invoice(signed_in, package, applicant):
    from tests.factories import filled_application

    draft = filled_application(applicant=applicant, package=package, credit_code=None)

    page = signed_in.get(detail_url(draft)).content.decode()

    assert "下载发票" not in page
    assert "发票生成中" not in page


# ---- 下载 --------------------------------------------------------------------------------


def test_the_applicant_downloads_the_invoice_pdf(signed_in, invoiced):
    response = signed_in.get(reverse("orders:invoice_pdf", args=[invoiced.number]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


def test_nobody_else_downloads_the_invoice(client, invoiced):
    url = reverse("orders:invoice_pdf", args=[invoiced.number])
    anonymous = client.get(url)
    client.force_login(UserFactory())

    assert anonymous.status_code == 302
    assert reverse("accounts:login") in anonymous["Location"]
    assert client.get(url).status_code == 404


def test_before_rendering_there_is_nothing_to_download(signed_in, order):
    assert signed_in.get(reverse("orders:invoice_pdf", args=[order.number])).status_code == 404


# ---- 发送至邮箱 ----------------------------------------------------------------------------


def test_the_invoice_is_mailed_as_a_pdf_to_the_chosen_address(
    signed_in, invoiced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(email_url(invoiced), {"email": "caiwu@example.cn"})

    assert response.status_code == 302
    assert response["Location"] == f"{detail_url(invoiced)}#invoice"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["caiwu@example.cn"]
    assert invoiced.number in message.subject
    invoice = invoiced.invoice
    assert invoice.number in message.body
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"发票-{invoice.number}.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF-")
    assert content == invoice.pdf.open("rb").read()
    page = signed_in.get(response["Location"]).content.decode()
    assert "发票已发送至 caiwu@example.cn，请查收" in page


def test_the_mail_is_sent_only_once_the_request_commits(
    signed_in, invoiced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        signed_in.post(email_url(invoiced), {"email": "caiwu@example.cn"})

    assert len(callbacks) == 1
    assert mail.outbox == []


def test_htmx_gets_the_form_back_with_the_confirmation(
    signed_in, invoiced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            email_url(invoiced), {"email": "caiwu@example.cn"}, headers={"HX-Request": "true"}
        )

    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith("<form")
    assert 'role="status">发票已发送至 caiwu@example.cn，请查收<' in fragment
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "张三@", ""])
def test_a_bad_address_is_refused_in_chinese(
    signed_in, invoiced, django_capture_on_commit_callbacks, address
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            email_url(invoiced), {"email": address}, headers={"HX-Request": "true"}
        )

    fragment = response.content.decode()
    assert "请输入有效的邮箱地址" in fragment or "请输入邮箱地址" in fragment
    assert 'class="field has-error"' in fragment
    assert mail.outbox == []


def test_a_bad_address_without_javascript_comes_back_as_a_message(signed_in, invoiced):
    response = signed_in.post(email_url(invoiced), {"email": "not-an-address"}, follow=True)

    assert "请输入有效的邮箱地址" in response.content.decode()
    assert mail.outbox == []


def test_sending_is_rate_limited_per_user(signed_in, invoiced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            signed_in.post(email_url(invoiced), {"email": "caiwu@example.cn"})
        response = signed_in.post(
            email_url(invoiced), {"email": "caiwu@example.cn"}, headers={"HX-Request": "true"}
        )

    assert "操作过于频繁" in response.content.decode()
    assert len(mail.outbox) == 5


def test_nothing_is_sent_before_the_invoice_is_rendered(
    signed_in, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            email_url(order), {"email": "caiwu@example.cn"}, headers={"HX-Request": "true"}
        )

    assert "发票生成中，请稍后再试" in response.content.decode()
    assert mail.outbox == []


def test_nobody_else_can_send_the_invoice(client, invoiced, django_capture_on_commit_callbacks):
    client.force_login(UserFactory())

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(email_url(invoiced), {"email": "thief@example.cn"})

    assert response.status_code == 404
    assert mail.outbox == []


def test_sending_needs_a_post(signed_in, invoiced):
    assert signed_in.get(email_url(invoiced)).status_code == 405


def test_rendering_again_keeps_the_one_invoice(invoiced):
    # A second render (the sweep, a retried task) leaves the first invoice alone.
    first = Invoice.objects.get(order=invoiced)
    invoice_render(order_id=invoiced.pk)

    assert Invoice.objects.get(order=invoiced).pk == first.pk
    assert invoiced.status == OrderStatus.COMPLETED


def test_the_invoice_poll_of_an_unfinished_order_answers_nothing(signed_in, certificate):
    order = topup(certificate)

    response = signed_in.get(
        f"{detail_url(order)}?fragment=invoice", headers={"HX-Request": "true"}
    )

    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.django_db
def test_a_new_invoice_is_mailed_once_to_the_address_given_in_the_application(
    django_capture_on_commit_callbacks, package, settings
):
    from django.core import mail

    from invoices.tasks import invoice_render
    from orders.services import order_transition
    from orders.states import OrderStatus
    from tests.factories import UserFactory, filled_application

    order = filled_application(applicant=UserFactory(), package=package)
    for step in [
        OrderStatus.AWAITING_AUTHORIZATION,
        OrderStatus.AUTHORIZED,
        OrderStatus.ISSUING,
        OrderStatus.COMPLETED,
    ]:
        order = order_transition(order=order, to=step, actor_label="测试")

    with django_capture_on_commit_callbacks(execute=True):
        invoice_render(order_id=order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_render(order_id=order.pk)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["zhang@example.cn"]
    assert mail.outbox[0].attachments[0][2] == "application/pdf"


def test_rendering_an_invoiced_order_again_reads_one_row_and_writes_nothing(
    invoiced, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with (
        django_assert_num_queries(1),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        invoice_render(order_id=invoiced.pk)

    assert Invoice.objects.filter(order=invoiced).count() == 1
    assert callbacks == []


def test_invoices_and_their_e_mails_go_to_the_bulk_queue():
    from yueqiqian.celery import app

    for name in ("invoices.tasks.invoice_render", "invoices.tasks.invoice_email_deliver"):
        assert app.amqp.router.route({}, name)["queue"].name == "bulk"
    # The sweep itself is a beat job on the default queue; what it queues goes to bulk.
    assert app.amqp.router.route({}, "invoices.tasks.invoices_render_missing")["queue"].name == (
        "celery"
    )
