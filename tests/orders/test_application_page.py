"""The page 申请填写 (二)1: one section open as a form, the others folded into what was saved
(已完成) or what they still need (待填写); 【修改】/【填写】 open another in place with htmx and
as ?open= without; a save folds its section and opens the next; the content is cached while
nothing it shows changes, and the page's queries are bounded."""

import re

import pytest
from django.forms.renderers import get_default_renderer
from django.test import Client
from django.urls import reverse

from certificates.models import CAInstitution, Package
from orders.forms import SECTION_FORMS, section_form
from orders.models import Order
from orders.services import order_draft_for, order_section_save
from tests.factories import (
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
LEGAL_REP_ID = make_id_number(sequence="777")
ENTERPRISE = {
    "enterprise_name": "广州市示例科技有限公司",
    "legal_rep_name": "张三",
    "legal_rep_id_number": LEGAL_REP_ID,
    "enterprise_address": "广东省广州市天河区示例路1号",
}


@pytest.fixture
def applicant(client):
    user = UserFactory()
    verified(user, real_name="李四")
    client.force_login(user)
    return user


def page_url(order, open_name=None):
    url = reverse("orders:apply", args=[order.number])
    return f"{url}?open={open_name}" if open_name else url


def section_url(order, name):
    return reverse("orders:apply_section", args=[order.number, name])


def section_html(body, name):
    """The <section> of that name in a page or fragment."""
    match = re.search(rf'<section class="[^"]*" id="{name}".*?</section>', body, re.S)
    assert match, f"no section {name}"
    return match.group(0)


def is_open(body, name):
    return "<form" in section_html(body, name)


def fill_all_but_invoice(order, package):
    order_section_save(
        order=order,
        section="applicant",
        data={"applicant_phone": order.applicant.phone, "applicant_email": "li@example.cn"},
    )
    order_section_save(
        order=order,
        section="enterprise",
        data={**ENTERPRISE, "credit_code": make_credit_code()},
    )
    order_section_save(
        order=order,
        section="certificate",
        data={"ca": package.ca, "package": package, "years": 2, "extra_seats": 3},
    )


# ---- one section open, the others folded ------------------------------------------------------


def test_a_new_application_opens_the_applicant_section_only(client, applicant):
    order = order_draft_for(applicant=applicant)

    body = client.get(page_url(order)).content.decode()

    assert body.count("<form") == 1
    assert is_open(body, "applicant")
    assert re.search(r'<label for="id_applicant_email">邮箱</label>', body)
    for name in ["enterprise", "certificate", "invoice"]:
        folded = section_html(body, name)
        assert "is-collapsed" in folded
        assert "待填写" in folded
    assert "需填写：企业名称、统一社会信用代码、法定代表人姓名" in body
    assert "统一社会信用代码</label>" not in body


def test_folded_sections_link_to_their_form_with_and_without_htmx(client, applicant):
    order = order_draft_for(applicant=applicant)

    folded = section_html(client.get(page_url(order)).content.decode(), "enterprise")

    url = page_url(order, "enterprise")
    assert f'href="{url}#enterprise"' in folded
    assert f'hx-get="{url}"' in folded
    assert 'hx-target="#enterprise"' in folded
    assert ">填写企业信息</a>" in folded


def test_saved_sections_show_what_was_saved_with_修改(client, applicant, package):
    order = order_draft_for(applicant=applicant)
    fill_all_but_invoice(order, package)

    body = client.get(page_url(order)).content.decode()

    assert is_open(body, "invoice")
    enterprise = section_html(body, "enterprise")
    assert "已完成" in enterprise
    assert "广州市示例科技有限公司" in enterprise
    assert "省内企业（广东）" in enterprise
    assert ">修改企业信息</a>" in enterprise
    certificate = section_html(body, "certificate")
    assert package.ca.name in certificate
    assert f"{package.name} · 2年" in certificate
    applicant_card = section_html(body, "applicant")
    assert "li@example.cn" in applicant_card
    assert applicant.identity.id_number_masked in applicant_card
    assert applicant.identity.id_number not in body


def test_a_complete_application_shows_every_section_folded(client, applicant, package):
    order = filled_application(applicant=applicant, package=package)

    body = client.get(page_url(order)).content.decode()

    assert "<form" not in body
    assert body.count("已完成") == 4
    assert f'href="{reverse("orders:agreement", args=[order.number])}"' in body


def test_修改_with_htmx_returns_that_section_open_with_its_values(client, applicant, package):
    order = filled_application(applicant=applicant, package=package)

    response = client.get(page_url(order, "enterprise"), headers=HTMX)

    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<section class="card form-section" id="enterprise"')
    assert "HX-Request" in response["Vary"]  # never the page's copy in a cache
    assert 'value="广州市示例科技有限公司"' in body
    assert f'hx-post="{section_url(order, "enterprise")}"' in body


def test_修改_without_javascript_opens_that_section_in_the_page(client, applicant, package):
    order = filled_application(applicant=applicant, package=package)

    body = client.get(page_url(order, "certificate")).content.decode()

    assert "<html" in body
    assert body.count("<form") == 1
    assert is_open(body, "certificate")
    assert f'<option value="{package.pk}" selected>' in body


def test_an_unknown_section_to_open_falls_back_to_the_first_to_fill(client, applicant):
    order = order_draft_for(applicant=applicant)

    body = client.get(page_url(order, "nonsense")).content.decode()

    assert is_open(body, "applicant")


# ---- saving folds the section and opens the next ---------------------------------------------


def test_saving_with_htmx_folds_the_section_and_opens_the_next_where_folded(client, applicant):
    order = order_draft_for(applicant=applicant)

    response = client.post(
        section_url(order, "applicant"),
        {"applicant_phone": applicant.phone, "applicant_email": "li@example.cn", "_save": "1"},
        headers=HTMX,
    )

    body = response.content.decode()
    saved = section_html(body, "applicant")
    assert "is-collapsed" in saved
    assert "已保存" in saved
    assert "li@example.cn" in saved
    assert '<section class="card form-section" id="enterprise" ' in body
    assert 'hx-swap-oob="outerHTML:#enterprise.is-collapsed"' in body
    assert is_open(body, "enterprise")
    assert 'id="price" hx-swap-oob="true"' in body


def test_a_certificate_choice_saved_on_change_stays_open(client, applicant):
    package = PackageFactory(max_years=3)
    order = order_draft_for(applicant=applicant)

    response = client.post(
        section_url(order, "certificate"),
        {"ca": package.ca.pk, "package": package.pk, "years": 2, "extra_seats": 0},
        headers=HTMX,
    )

    body = response.content.decode()
    assert is_open(body, "certificate")
    assert "已保存" in section_html(body, "certificate")
    assert 'hx-swap-oob="outerHTML' not in body


def test_saving_without_javascript_goes_to_the_next_section_open(client, applicant):
    order = order_draft_for(applicant=applicant)

    response = client.post(
        section_url(order, "applicant"),
        {"applicant_phone": applicant.phone, "applicant_email": "li@example.cn", "_save": "1"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{page_url(order)}#enterprise"
    body = client.get(response["Location"]).content.decode()
    assert is_open(body, "enterprise")
    assert "已完成" in section_html(body, "applicant")


def test_an_error_without_javascript_keeps_the_section_open_with_what_was_typed(
    client, applicant, package
):
    order = filled_application(applicant=applicant, package=package)

    response = client.post(
        section_url(order, "enterprise"),
        {**ENTERPRISE, "credit_code": "91440106MA59A1B2C0", "enterprise_name": "新名字公司"},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert body.count("<form") == 1
    enterprise = section_html(body, "enterprise")
    assert "统一社会信用代码校验位不正确" in enterprise
    assert 'value="新名字公司"' in enterprise
    assert 'aria-invalid="true"' in enterprise


# ---- the content is cached while nothing it shows changes ---------------------------------------


def test_the_page_shows_a_saved_change_at_once(client, applicant):
    order = order_draft_for(applicant=applicant)
    client.get(page_url(order))

    order_section_save(
        order=order,
        section="applicant",
        data={"applicant_phone": applicant.phone, "applicant_email": "new@example.cn"},
    )

    body = client.get(page_url(order)).content.decode()
    assert "new@example.cn" in section_html(body, "applicant")
    assert is_open(body, "enterprise")


def test_the_page_shows_a_renamed_ca_or_package_at_once(client, applicant, package):
    order = filled_application(applicant=applicant, package=package)
    client.get(page_url(order))

    CAInstitution.objects.filter(pk=package.ca_id).update(name="新名字认证机构")
    Package.objects.filter(pk=package.pk).update(name="新名字套餐")

    body = client.get(page_url(order)).content.decode()
    assert "新名字认证机构" in body
    assert "新名字套餐" in body


def test_an_identity_verified_later_shows_at_once(client, user):
    client.force_login(user)
    order = order_draft_for(applicant=user)
    assert "<dt>姓名</dt>" not in client.get(page_url(order)).content.decode()

    verified(user, real_name="王五")

    assert "王五" in client.get(page_url(order)).content.decode()


def test_each_response_masks_the_csrf_token_afresh_and_the_form_posts(applicant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(applicant)
    order = order_draft_for(applicant=applicant)
    pattern = r'name="csrfmiddlewaretoken" value="(\w+)"'

    first = re.search(pattern, client.get(page_url(order)).content.decode()).group(1)
    second = re.search(pattern, client.get(page_url(order)).content.decode()).group(1)
    response = client.post(
        section_url(order, "applicant"),
        {
            "csrfmiddlewaretoken": second,
            "applicant_phone": applicant.phone,
            "applicant_email": "li@example.cn",
        },
    )

    assert first != second
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.applicant_email == "li@example.cn"


def test_the_page_reads_a_bounded_number_of_rows(
    client, applicant, package, django_assert_max_num_queries
):
    order = order_draft_for(applicant=applicant)
    fill_all_but_invoice(order, package)

    # Session, user, the order's stamp, the order with its CA and package, the identity; then,
    # while nothing changes, session, user and the stamp only.
    with django_assert_max_num_queries(5):
        first = client.get(page_url(order))
    with django_assert_max_num_queries(3):
        again = client.get(page_url(order))

    assert first.status_code == again.status_code == 200
    assert is_open(again.content.decode(), "invoice")


def test_the_open_certificate_section_reads_its_lists_afresh(
    client, applicant, package, django_assert_max_num_queries
):
    order = filled_application(applicant=applicant, package=package)
    client.get(page_url(order, "certificate"))
    Package.objects.filter(pk=package.pk).update(is_active=False)
    fresh = PackageFactory(ca=package.ca, name="新套餐")

    # Session, user, stamp, the order with its CA and package, identity, CA list, package list.
    with django_assert_max_num_queries(7):
        body = client.get(page_url(order, "certificate")).content.decode()

    packages = re.search(r'<select name="package".*?</select>', body, re.S).group(0)
    assert fresh.name in packages
    assert f'<option value="{package.pk}"' not in packages


# ---- the fields' markup --------------------------------------------------------------------------


@pytest.mark.parametrize("section", list(SECTION_FORMS))
@pytest.mark.parametrize("bound", [False, True], ids=["initial", "with errors"])
def test_fields_are_drawn_exactly_as_djangos_widget_templates_draw_them(section, bound, package):
    order = filled_application(applicant=UserFactory(), package=package)
    Order.objects.filter(pk=order.pk).update(enterprise_name='A&B "<公司>"')
    order.refresh_from_db()
    data = {"ca": str(package.ca_id), "package": "x<y", "applicant_email": "bad"} if bound else None
    form = section_form(section, order, data)

    ours = [str(field) for field in form]
    form.renderer = get_default_renderer()

    assert ours == [str(field) for field in form]


def test_a_ca_no_longer_offered_is_not_taken_as_chosen(applicant, package):
    order = filled_application(applicant=applicant, package=package)
    CAInstitution.objects.filter(pk=package.ca_id).update(is_active=False)
    order = Order.objects.select_related("ca", "package").get(pk=order.pk)

    form = section_form("certificate", order)

    assert list(form.fields["package"].queryset) == []
    assert form.fields["years"].choices == [("", "请选择有效期")]


def test_content_cached_by_a_process_with_another_secret_key_is_not_served(settings, monkeypatch):
    """The CSRF slot in cached content is derived from SECRET_KEY: after a key rotation a new
    process must not serve an old process's content, whose slot it would not replace (every
    save would then fail its CSRF check)."""
    from django.test import Client
    from django.utils.crypto import salted_hmac

    import orders.views as views
    from orders.services import order_draft_for
    from tests.factories import UserFactory, verified

    user = UserFactory()
    verified(user, real_name="李四")
    order = order_draft_for(applicant=user)
    url = reverse("orders:apply", args=[order.number])
    old = Client(enforce_csrf_checks=True)
    old.force_login(user)
    old.get(url)  # rendered and cached under the old key

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    slot = salted_hmac("orders.apply", "csrf-token-slot", algorithm="sha256").hexdigest()
    monkeypatch.setattr(views, "_CSRF_SLOT", slot)
    new = Client(enforce_csrf_checks=True)
    new.force_login(user)
    body = new.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)

    response = new.post(
        reverse("orders:apply_section", args=[order.number, "applicant"]),
        {"csrfmiddlewaretoken": token, "applicant_phone": user.phone,
         "applicant_email": "a@example.cn", "_save": "1"},
    )  # fmt: skip

    assert response.status_code != 403
