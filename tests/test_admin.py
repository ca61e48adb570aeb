"""The admin: staff log in with phone + password, order events are listed with each order, and
CA private keys never appear."""

import pytest
from django.urls import reverse

from accounts.models import User
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import UserFactory, new_certificate_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return User.objects.create_superuser("13900000000", "a-long-operator-password", name="运营")


def test_staff_log_in_to_the_admin_with_phone_and_password(client, operator):
    response = client.post(
        reverse("admin:login"),
        {"username": "13900000000", "password": "a-long-operator-password", "next": "/admin/"},
    )

    assert response.status_code == 302
    assert "粤企签 管理后台" in client.get("/admin/").content.decode()


def test_an_applicant_cannot_enter_the_admin(client):
    client.force_login(UserFactory())

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_orders_events_are_listed_on_its_admin_page(client, operator, package):
    applicant = UserFactory()
    order = new_certificate_order(applicant=applicant, package=package)
    order_transition(
        order=order, to=OrderStatus.AWAITING_AUTHORIZATION, actor=applicant, reason="已同意协议"
    )
    client.force_login(operator)

    body = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert "订单事件" in body
    assert "已同意协议" in body
    assert "创建订单" in body
    assert "待授权" in body


def test_the_event_log_is_read_only(client, operator, package):
    order = new_certificate_order(applicant=UserFactory(), package=package)
    event = order.events.get()
    client.force_login(operator)

    url = reverse("admin:orders_orderevent_change", args=[event.pk])
    client.post(url, {"reason": "篡改"})
    delete = client.post(
        reverse("admin:orders_orderevent_delete", args=[event.pk]), {"post": "yes"}
    )

    event.refresh_from_db()
    assert event.reason == "创建订单"
    assert delete.status_code == 403


def test_ca_private_keys_are_never_shown(client, operator, settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client.force_login(operator)
    from certificates.models import CACertificate

    cert = CACertificate.objects.filter(role="issuing").first()
    body = client.get(reverse("admin:certificates_cacertificate_change", args=[cert.pk]))

    assert body.status_code == 200
    text = body.content.decode()
    assert "BEGIN CERTIFICATE" in text
    assert "PRIVATE KEY" not in text
    assert "encrypted_private_key" not in text
