"""Hostile input on every public form endpoint, as the user entitled to it: arbitrary text
(any Unicode but lone surrogates, which no HTTP client can send), control characters, NUL,
right-to-left marks, astral characters, very long strings, raw bytes, numbers out of range,
markup and SQL, and random files. Property: never a 500, and a refused request leaves the
watched tables exactly as they were. On SQLite (phase one), with hypothesis.
"""

import json
from collections import Counter

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.forms import IdentityForm, LoginForm
from authorization.services import share_link_create
from authorization.transfer_views import BankInfoForm
from certificates.signing_views import VerifyForm
from certificates.views import EmployeeForm
from orders.forms import SECTION_FORMS
from orders.services import order_transition
from orders.states import OrderStatus
from orders.topup import TopupForm
from tests.certificates.test_certificate_pages import certificate_row, seats_grant
from tests.factories import (
    AgreementVersionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    verified,
)
from tests.orders.test_payments import sandbox_merchant

pytestmark = pytest.mark.django_db
EXAMPLES = 40

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "\x00",
    "a\x00b",
    "\u202e\u202d",
    "\ufeff",
    "𠀀𠀁𠀂" * 20,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00%ff",
    "{{ 7*7 }}",
    "Ｚ" * 600,
]
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
value = st.one_of(
    text,
    st.sampled_from(NASTY),
    st.binary(max_size=200),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "中", "𠀀", "\n"]), st.integers(1000, 70_000)
    ),
)
upload = st.builds(
    lambda data, name: SimpleUploadedFile(name or "f", data),
    st.binary(max_size=4096),
    st.sampled_from(["a.png", "a.jpg", "a.pdf", "x", "../../x.png", "中文.png", "a" * 300]),
)


def payload(form_class, *extra: str):
    """A strategy for a POST body naming every field of `form_class`, and `extra` ones."""
    fields = {}
    for name, field in form_class.base_fields.items():
        is_file = field.widget.needs_multipart_form
        fields[name] = st.one_of(st.none(), upload if is_file else value)
    for name in extra:
        fields[name] = value
    present = st.fixed_dictionaries(fields)
    return present.map(lambda d: {k: v for k, v in d.items() if v is not None})


def counts(*labels: str) -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in labels}


@pytest.fixture
def world(db):
    package = PackageFactory()
    AgreementVersionFactory(ca=package.ca)
    sandbox_merchant(package.ca)
    applicant = UserFactory()
    verified(applicant)
    draft = filled_application(applicant=applicant, package=package)
    awaiting = filled_application(
        applicant=UserFactory(), package=PackageFactory(ca=package.ca), credit_code=None
    )
    awaiting = order_transition(
        order=awaiting, to=OrderStatus.AWAITING_AUTHORIZATION, actor=awaiting.applicant
    )
    _, token = share_link_create(order=awaiting, actor=awaiting.applicant)
    certificate = certificate_row(holder=applicant, package=package)
    seats_grant(certificate, 2)
    return {
        "applicant": applicant,
        "draft": draft,
        "awaiting": awaiting,
        "token": token,
        "certificate": certificate,
        "ca": package.ca,
    }


def section(name):
    return lambda w: reverse("orders:apply_section", args=[w["draft"].number, name])


# name: (who posts, url, body strategy, tables that a refused request must leave alone)
ENDPOINTS = {
    "login": (
        None,
        lambda w: reverse("accounts:login"),
        payload(LoginForm, "action", "next"),
        ["accounts.User", "accounts.SmsCode"],
    ),
    "identity": (
        "new user",
        lambda w: reverse("accounts:identity"),
        payload(IdentityForm),
        ["accounts.Identity"],
    ),
    **{
        f"apply {name}": (
            "applicant",
            section(name),
            payload(form),
            ["orders.Order", "orders.OrderEvent"],
        )
        for name, form in SECTION_FORMS.items()
    },
    "agreement": (
        "applicant",
        lambda w: reverse("orders:agreement", args=[w["draft"].number]),
        st.fixed_dictionaries({"agree": value, "version": value}),
        ["orders.AgreementAcceptance", "orders.OrderEvent"],
    ),
    "authorize": (
        "awaiting applicant",
        lambda w: reverse("orders:authorize", args=[w["awaiting"].number]),
        st.fixed_dictionaries({"method": value, "confirm": value}),
        ["orders.OrderEvent"],
    ),
    "share-link check": (
        None,
        lambda w: reverse("authorization:share_check", args=[w["token"]]),
        payload(IdentityForm),
        ["orders.OrderEvent"],
    ),
    "bank-transfer info": (
        "awaiting applicant",
        lambda w: reverse("transfer:bank_info", args=[w["awaiting"].number]),
        payload(BankInfoForm),
        ["orders.OrderEvent"],
    ),
    "top-up": (
        "applicant",
        lambda w: reverse("orders:topup_start", args=[w["certificate"].pk]),
        payload(TopupForm),
        ["orders.Order", "orders.OrderEvent"],
    ),
    "employees add": (
        "applicant",
        lambda w: reverse("certificates:employee_add", args=[w["certificate"].pk]),
        payload(EmployeeForm),
        ["certificates.EmployeeAuthorization", "accounts.User"],
    ),
    "verify page": (
        None,
        lambda w: reverse("signing:verify"),
        payload(VerifyForm),
        ["certificates.SigningRecord"],
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_form_endpoint_never_fails_and_a_refusal_writes_nothing(client, world, endpoint):
    who, url_for, body, watched = ENDPOINTS[endpoint]
    if who == "applicant":
        client.force_login(world["applicant"])
    elif who == "awaiting applicant":
        client.force_login(world["awaiting"].applicant)
    elif who == "new user":
        client.force_login(UserFactory())
    url = url_for(world)
    seen: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=body)
    def post(data):
        cache.clear()  # rate limits would turn most examples into a 429
        before = counts(*watched)
        response = client.post(url, data)
        seen[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, data)
        if response.status_code != 302:
            assert counts(*watched) == before, data

    post()
    print(f"\nhostile {endpoint}: {seen.total()} examples, statuses {dict(sorted(seen.items()))}")


@settings(
    max_examples=EXAMPLES * 2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        text.map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | text,
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Wechatpay-Serial",
                "Wechatpay-Signature",
                "Wechatpay-Timestamp",
                "Wechatpay-Nonce",
                "Wechatpay-Signature-Type",
            ]
        ),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    ),
)
def test_the_notify_endpoint_never_fails_and_records_nothing(client, world, body, headers):
    before = counts("orders.Payment", "orders.OrderEvent")

    response = client.post(
        reverse("payments:wechat_notify", args=[world["ca"].code]),
        data=body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code in (400, 413)
    assert counts("orders.Payment", "orders.OrderEvent") == before
