"""The mobile shell: Chinese pages, bottom tabs, htmx from our own static files with the CSRF
token, Chinese 404/500 pages, and list pages whose query count does not grow with rows."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory, new_certificate_order, seat_topup_order

pytestmark = pytest.mark.django_db


def test_home_has_the_three_bottom_tabs_and_is_chinese(client):
    body = client.get(reverse("home")).content.decode()

    assert '<html lang="zh-CN">' in body
    tabs = re.findall(r'class="tab[^"]*"[^>]*>\s*<svg.*?<span>(.*?)</span>', body, re.S)
    assert tabs == ["首页", "订单管理", "我的"]


def test_htmx_comes_from_our_static_files_and_carries_the_csrf_token(client):
    body = client.get(reverse("accounts:login")).content.decode()

    scripts = re.findall(r'<script src="([^"]+)"', body)
    assert scripts
    assert all(src.startswith("/static/") for src in scripts)
    assert any("htmx" in src for src in scripts)
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', body)
    assert token
    assert len(token.group(1)) >= 32


def test_htmx_post_without_the_csrf_header_is_refused():
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("accounts:login"))

    response = client.post(
        reverse("accounts:login"),
        {"action": "send", "phone": "13812345678"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 403


def test_pages_send_a_content_security_policy(client):
    response = client.get(reverse("accounts:login"))

    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_order_and_me_pages_need_login(client):
    for name in ["orders:list", "me"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_404_is_a_chinese_page_in_the_same_style(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "抱歉，您访问的页面不存在" in body
    assert "/static/css/app.css" in body


def test_500_is_a_chinese_page_without_request_context(rf):
    from yueqiqian.views import server_error

    response = server_error(rf.get("/"))

    assert response.status_code == 500
    assert "服务暂时不可用" in response.content.decode()


def test_empty_order_list_says_so(client, user):
    client.force_login(user)

    body = client.get(reverse("orders:list")).content.decode()

    assert "暂无订单" in body


def test_order_list_shows_only_the_users_orders_newest_first_with_chinese_status(client, package):
    me, other = UserFactory(), UserFactory()
    older = new_certificate_order(applicant=me, package=package)
    newer = seat_topup_order(applicant=me, ca=package.ca)
    theirs = new_certificate_order(applicant=other, package=package)
    client.force_login(me)

    body = client.get(reverse("orders:list")).content.decode()

    assert body.index(newer.number) < body.index(older.number)
    assert theirs.number not in body
    assert "填写中" in body
    assert "待支付" in body
    assert "¥1,000.00" in body  # 5 seats × 2 years × 100 CNY


@pytest.mark.parametrize("rows", [1, 25])
def test_order_list_query_count_does_not_grow_with_rows(
    client, package, django_assert_max_num_queries, rows
):
    me = UserFactory()
    for _ in range(rows):
        new_certificate_order(applicant=me, package=package)
    client.force_login(me)

    # session + user + the rows' stamp + count + one page of orders with their CA
    with django_assert_max_num_queries(5):
        response = client.get(reverse("orders:list"))
    assert response.status_code == 200


def test_order_list_paginates_and_htmx_gets_only_the_list(client, package):
    me = UserFactory()
    for _ in range(21):
        new_certificate_order(applicant=me, package=package)
    client.force_login(me)

    response = client.get(reverse("orders:list") + "?page=2", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert "第 2 / 2 页" in body
    assert "<html" not in body
    assert body.count('class="list-row order-row"') == 1


def test_me_page_masks_the_phone_and_offers_logout(client):
    me = UserFactory(phone="13812345678")
    client.force_login(me)

    body = client.get(reverse("me")).content.decode()

    assert "138****5678" in body
    assert "13812345678" not in body
    assert "退出登录" in body


def test_home_links_to_the_public_signature_check(client):
    body = client.get(reverse("home")).content.decode()

    assert f'href="{reverse("signing:verify")}"' in body
    assert client.get(reverse("signing:verify")).status_code == 200
