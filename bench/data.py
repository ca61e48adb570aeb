"""Benchmark data: bulk-generated enterprises, orders and order events, and the pages' fixtures.

Everything is written with bulk_create in batches (no per-row save, no signals, no validation):
the point is a realistically sized database, quickly. Runs inside the harness process, on the
`yq_bench` database only.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import Identity, User
from certificates.models import (
    EmployeeAuthorization,
    EnterpriseCertificate,
    Package,
    SeatGrant,
)
from orders.models import Order, OrderEvent, Payment, WechatPayMerchant
from orders.payments.providers import merchant_config, sandbox_platform
from orders.states import OrderKind, OrderStatus
from orders.wechatpay import SandboxPlatform

BATCH = 5000
# An unusable password hash: the pages' user logs in with a session made by the harness.
NO_LOGIN = "!"
ORDERS_PER_ENTERPRISE = 5
EVENTS_PER_ORDER = 10
PAGE_USER_PHONE = "13800000000"
PAGE_USER_ORDERS = 60
EMPLOYEES = 50
S = OrderStatus
# Ten status moves an order's history is made of (an order with a review and a resubmission).
EVENT_CHAIN = [
    ("", S.DRAFT),
    (S.DRAFT, S.AWAITING_AUTHORIZATION),
    (S.AWAITING_AUTHORIZATION, S.PENDING_REVIEW),
    (S.PENDING_REVIEW, S.REJECTED),
    (S.REJECTED, S.PENDING_REVIEW),
    (S.PENDING_REVIEW, S.PENDING_CA_REVIEW),
    (S.PENDING_CA_REVIEW, S.REJECTED),
    (S.REJECTED, S.PENDING_REVIEW),
    (S.PENDING_REVIEW, S.PENDING_CA_REVIEW),
    (S.PENDING_CA_REVIEW, S.ISSUING),
]
NAMES = ["广州", "深圳", "佛山", "东莞", "珠海", "中山", "惠州", "江门"]
TRADES = ["科技", "建设", "贸易", "电子", "工程", "物流", "设计", "环保"]
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def seed() -> None:
    """The demo CAs (real key hierarchies), packages, agreements and sandbox merchants."""
    with override_settings(DEBUG=True):  # seed_demo refuses to run without DEBUG
        call_command("seed_demo", stdout=_Null())


class _Null:
    def write(self, *_args) -> None:
        pass


def credit_code(index: int) -> str:
    """A Guangdong (44…) credit code, unique per index; 18 characters."""
    return f"9144{index % 10000:04d}{index:010d}"


def enterprise_name(index: int) -> str:
    return f"{NAMES[index % 8]}{TRADES[index // 8 % 8]}基准{index}号有限公司"


def person_name(index: int) -> str:
    return SURNAMES[index % 10] + GIVEN[index // 10 % 20] + GIVEN[index // 200 % 20]


def _packages() -> list[Package]:
    return list(Package.objects.select_related("ca").order_by("pk"))


def _order(*, number: str, index: int, applicant_id: int, package: Package, status: str, **extra):
    years = package.min_years + index % (package.max_years - package.min_years + 1)
    return Order(
        number=number,
        kind=OrderKind.NEW_CERTIFICATE,
        status=status,
        applicant_id=applicant_id,
        ca_id=package.ca_id,
        package=package,
        years=years,
        amount_fen=package.price_per_year_fen * years,
        package_price_per_year_fen=package.price_per_year_fen,
        applicant_phone=extra.pop("phone", ""),
        enterprise_name=enterprise_name(index),
        credit_code=credit_code(index),
        legal_rep_name=person_name(index),
        legal_rep_id_number="440106198001017771",
        enterprise_address=f"广东省{NAMES[index % 8]}市天河区基准路{index}号",
        invoice_title=enterprise_name(index),
        invoice_tax_id=credit_code(index),
        authorization_method="legal_rep_self",
        **extra,
    )


def _phone(index: int) -> str:
    return f"137{index:08d}"


@dataclass
class Scale:
    enterprises: int
    orders: int
    events: int


def generate(start: int, stop: int) -> Scale:
    """Enterprises [start, stop): an applicant each, ORDERS_PER_ENTERPRISE orders each (the
    first completed with a valid certificate, then completed/cancelled), and EVENTS_PER_ORDER
    events per order. Orders get created_at spread over the past (newest last)."""
    packages = _packages()
    now = timezone.now()
    created = Scale(0, 0, 0)
    for lo in range(start, stop, BATCH // ORDERS_PER_ENTERPRISE):
        hi = min(stop, lo + BATCH // ORDERS_PER_ENTERPRISE)
        with transaction.atomic():
            users = User.objects.bulk_create(
                User(phone=_phone(i), name=person_name(i), password=NO_LOGIN) for i in range(lo, hi)
            )
            orders = []
            for i, user in zip(range(lo, hi), users, strict=True):
                package = packages[i % len(packages)]
                for k in range(ORDERS_PER_ENTERPRISE):
                    status = S.CANCELLED if k == ORDERS_PER_ENTERPRISE - 1 else S.COMPLETED
                    orders.append(
                        _order(
                            number=f"BN{i:09d}{k}",
                            index=i,
                            applicant_id=user.pk,
                            package=package,
                            status=status,
                            phone=user.phone,
                        )
                    )
            orders = Order.objects.bulk_create(orders, batch_size=BATCH)
            EnterpriseCertificate.objects.bulk_create(
                [
                    EnterpriseCertificate(
                        order=o,
                        ca_id=o.ca_id,
                        holder_id=o.applicant_id,
                        status=EnterpriseCertificate.Status.VALID,
                        enterprise_name=o.enterprise_name,
                        credit_code=o.credit_code,
                        legal_rep_name=o.legal_rep_name,
                        serial_hex=f"b{o.pk:015x}",
                        not_before=now - timedelta(days=200),
                        not_after=now + timedelta(days=165 + o.years * 365),
                        issued_at=now - timedelta(days=200),
                    )
                    for o in orders[::ORDERS_PER_ENTERPRISE]
                ],
                batch_size=BATCH,
            )
            events = [
                OrderEvent(
                    order_id=o.pk,
                    actor_label="系统",
                    from_status=src,
                    to_status=dst,
                    reason="基准数据",
                )
                for o in orders
                for src, dst in EVENT_CHAIN
            ]
            _events_create(events)
        created.enterprises += hi - lo
        created.orders += len(orders)
        created.events += len(events)
    with connection.cursor() as cursor:
        # auto_now_add stamped every row "now": spread them over the past, one minute apart.
        cursor.execute(
            "UPDATE orders_order SET created_at = now() - (%s - id) * interval '1 minute', "
            "updated_at = now() - (%s - id) * interval '1 minute' WHERE number LIKE 'BN%%'",
            [10**9, 10**9],
        )
    return created


def _chained(events: list[OrderEvent]) -> list[OrderEvent]:
    """Link the events into the order history's audit hash chain (orders.audit), after the
    newest stored event, in insertion (= id) order, as `_event_add` would have one by one.
    A tree without the chain gets the events as they are."""
    if not any(f.name == "prev_hash" for f in OrderEvent._meta.concrete_fields):
        return events
    from orders import audit

    head = audit.chain_head()
    now = timezone.now()
    for event in events:
        event.created_at = now
        event.prev_hash = head
        event.hash = head = audit.event_hash(event)
    return events


def _events_create(events) -> None:
    with transaction.atomic():
        OrderEvent.objects.bulk_create(_chained(list(events)), batch_size=BATCH)


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@dataclass
class Pages:
    user: User
    certificate: EnterpriseCertificate
    draft: Order
    issuing: Order
    paid: Order
    merchant: WechatPayMerchant
    # The transaction WeChat Pay reported for `paid`; its Payment is recorded, so a notification
    # of it takes the duplicate path.
    paid_transaction: dict


def page_fixtures() -> Pages:
    """The page user: 实名认证 done, PAGE_USER_ORDERS orders (a draft, one 签发中 being polled,
    a paid one), and a real issued certificate with EMPLOYEES employees on EMPLOYEES seats."""
    from certificates.services import certificate_issue_for_order

    packages = _packages()
    now = timezone.now()
    user = User.objects.create(phone=PAGE_USER_PHONE, name="基准用户", password=NO_LOGIN)
    Identity.objects.create(
        user=user,
        real_name="基准用户",
        id_number="440106198001017771",
        verified_at=now,
        provider="sandbox",
    )
    base = 9_000_000  # enterprise indices of the page user's own, away from the bulk ones
    orders = []
    for k in range(PAGE_USER_ORDERS):
        status = [S.COMPLETED, S.CANCELLED, S.COMPLETED][k % 3]
        orders.append(
            _order(
                number=f"BP{k:010d}",
                index=base + k,
                applicant_id=user.pk,
                package=packages[k % len(packages)],
                status=status,
                phone=user.phone,
            )
        )
    orders = Order.objects.bulk_create(orders)
    _events_create(
        OrderEvent(order_id=o.pk, actor_label="系统", from_status=src, to_status=dst)
        for o in orders
        for src, dst in EVENT_CHAIN
    )

    def _single(number: str, index: int, status: str) -> Order:
        order = _order(
            number=number,
            index=index,
            applicant_id=user.pk,
            package=packages[0],
            status=status,
            phone=user.phone,
        )
        order.save()
        _events_create(
            OrderEvent(order=order, actor_label="系统", from_status=src, to_status=dst)
            for src, dst in EVENT_CHAIN[: 1 if status == S.DRAFT else None]
        )
        return order

    draft = _single("BPDRAFT", base + 100, S.DRAFT)
    issuing = _single("BPISSUING", base + 101, S.ISSUING)
    # The certificate with 50 employees: issued for real (key, PEM, seals) by the service.
    held = _single("BPHELD", base + 102, S.ISSUING)
    certificate = certificate_issue_for_order(order_id=held.pk)
    SeatGrant.objects.create(
        credit_code=certificate.credit_code,
        order=_single("BPSEATS", base + 103, S.COMPLETED),
        seats=EMPLOYEES,
        starts_at=certificate.not_before,
        expires_at=certificate.not_after,
    )
    EmployeeAuthorization.objects.bulk_create(
        EmployeeAuthorization(
            certificate=certificate, name=person_name(e), phone=f"136{e:08d}", added_by=user
        )
        for e in range(EMPLOYEES)
    )
    paid = _single("BPPAID", base + 104, S.COMPLETED)
    merchant = WechatPayMerchant.objects.get(ca_id=paid.ca_id)
    data = paid_transaction(paid, merchant=merchant)
    Payment.objects.create(
        order=paid,
        out_trade_no=paid.number,
        transaction_id=data["transaction_id"],
        amount_fen=paid.amount_fen,
        payee_mchid=merchant.mchid,
        paid_at=now,
        source="notify",
    )
    return Pages(user, certificate, draft, issuing, paid, merchant, data)


def paid_transaction(order: Order, *, merchant: WechatPayMerchant) -> dict:
    """The SUCCESS transaction WeChat Pay would report for `order` paid to `merchant`."""
    return SandboxPlatform.paid_transaction(
        config=merchant_config(merchant), out_trade_no=order.number, amount_fen=order.amount_fen
    )


def signed_notification(
    transaction_data: dict, *, merchant: WechatPayMerchant
) -> tuple[dict[str, str], bytes]:
    """(headers, body) as the merchant's sandbox platform posts it, timestamped now (the
    endpoint refuses one more than 300 s old)."""
    return sandbox_platform(merchant).sign_notification(
        transaction=transaction_data, api_v3_key=merchant_config(merchant).api_v3_key
    )


def issuance_orders(count: int, *, first_index: int) -> list[Order]:
    """`count` new-certificate orders 已授权待支付 (sent to pay), one new enterprise each."""
    packages = _packages()
    applicants = User.objects.bulk_create(
        User(phone=_phone(first_index + n), name=person_name(n), password=NO_LOGIN)
        for n in range(count)
    )
    now = timezone.now()
    orders = Order.objects.bulk_create(
        _order(
            number=f"BI{first_index + n:010d}",
            index=first_index + n,
            applicant_id=user.pk,
            package=packages[n % len(packages)],
            status=S.AUTHORIZED,
            phone=user.phone,
            payment_requested_at=now,
        )
        for n, user in enumerate(applicants)
    )
    return orders
