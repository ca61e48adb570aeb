import factory
from django.utils import timezone

from accounts.models import User
from certificates.models import AgreementVersion, CAInstitution, Package
from orders.services import order_create
from orders.states import OrderKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("phone",)
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"138{n:08d}")
    password = "!unusable"


class CAInstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CAInstitution

    code = factory.Sequence(lambda n: f"ca{n}")
    name = factory.Sequence(lambda n: f"测试认证机构{n}（演示）")
    contact_phone = "020-12345678"
    bank_account_name = factory.LazyAttribute(lambda o: f"{o.name}有限公司")
    bank_name = "测试银行广州分行"
    bank_account_number = "6222000000000001"
    transfer_remark_format = "{ref}"


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    ca = factory.SubFactory(CAInstitutionFactory)
    name = factory.Sequence(lambda n: f"标准套餐{n}")
    price_per_year_fen = 300_00
    min_years = 1
    max_years = 3


class AgreementVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgreementVersion

    ca = factory.SubFactory(CAInstitutionFactory)
    version = 1
    body = "协议正文"
    published_at = factory.LazyFunction(timezone.now)


def new_certificate_order(*, applicant, package, years=1, extra_seats=0):
    return order_create(
        kind=OrderKind.NEW_CERTIFICATE,
        applicant=applicant,
        ca=package.ca,
        package=package,
        years=years,
        extra_seats=extra_seats,
    )


def seat_topup_order(*, applicant, ca, seats=5, years=2):
    return order_create(
        kind=OrderKind.SEAT_TOPUP,
        applicant=applicant,
        ca=ca,
        package=None,
        years=years,
        extra_seats=seats,
    )
