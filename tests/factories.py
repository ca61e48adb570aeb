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


# ---- Identity numbers, credit codes and filled-in applications -------------------------------


def make_id_number(region: str = "440106", birth: str = "19800101", sequence: str = "001") -> str:
    from stdnum.cn import ric

    body = region + birth + sequence
    return body + ric.calc_check_digit(body + "0")  # stdnum drops the last character


def make_credit_code(body: str = "91440106MA59A1B2C") -> str:
    from stdnum.cn import uscc

    return body + uscc.calc_check_digit(body)


def verified(user, *, real_name: str = "张三", id_number: str | None = None):
    from accounts.models import Identity

    return Identity.objects.create(
        user=user,
        real_name=real_name,
        id_number=id_number or make_id_number(sequence=f"{user.pk % 1000:03d}"),
        verified_at=timezone.now(),
        provider="test",
    )


def filled_application(
    *,
    applicant,
    package,
    credit_code=None,
    legal_rep_name="张三",
    legal_rep_id=None,
    years=1,
    extra_seats=0,
    enterprise_name="广州市示例科技有限公司",
):
    """A draft whose four sections are saved through the services, as the page would."""
    from orders.services import order_draft_for, order_section_save

    order = order_draft_for(applicant=applicant)
    credit_code = credit_code or make_credit_code()
    order_section_save(
        order=order,
        section="applicant",
        data={"applicant_phone": applicant.phone, "applicant_email": "zhang@example.cn"},
    )
    order_section_save(
        order=order,
        section="enterprise",
        data={
            "enterprise_name": enterprise_name,
            "credit_code": credit_code,
            "legal_rep_name": legal_rep_name,
            "legal_rep_id_number": legal_rep_id or make_id_number(sequence="777"),
            "enterprise_address": "广东省广州市天河区示例路1号",
        },
    )
    order_section_save(
        order=order,
        section="certificate",
        data={"ca": package.ca, "package": package, "years": years, "extra_seats": extra_seats},
    )
    order_section_save(
        order=order,
        section="invoice",
        data={
            "invoice_title": enterprise_name,
            "invoice_tax_id": credit_code,
            "invoice_email": "zhang@example.cn",
            "invoice_remark": "",
        },
    )
    return order
