"""Demo data for the embedded default: three fictional CAs with real key hierarchies, packages,
agreements, sandbox WeChat Pay merchants, and staff logins for the admin. Idempotent: a second
run changes nothing."""

import secrets
import string

from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from certificates.models import AgreementVersion, CAInstitution, Package
from certificates.services import ca_hierarchy_create
from orders.models import WechatPayMerchant
from orders.payments.services import wechatpay_merchant_create
from orders.wechatpay import SandboxPlatform

DEMO_CAS = [
    {
        "code": "nanyue",
        "mchid": "1900000101",
        "name": "南粤数字认证（演示）",
        "contact_phone": "020-8000-0001",
        "bank_account_name": "南粤数字认证服务有限公司（演示）",
        "bank_name": "中国工商银行广州天河支行（演示）",
        "bank_account_number": "3602 0000 0000 0000 001",
        "transfer_remark_format": "粤企签{ref}",
        "packages": [("标准套餐", "含机构公章、法定代表人章", 300_00, 1, 3)],
    },
    {
        "code": "zhujiang",
        "mchid": "1900000102",
        "name": "珠江电子认证（演示）",
        "contact_phone": "020-8000-0002",
        "bank_account_name": "珠江电子认证有限公司（演示）",
        "bank_name": "中国建设银行广州珠江支行（演示）",
        "bank_account_number": "4400 1000 0000 0000 002",
        "transfer_remark_format": "{ref}-{credit_code}",
        "packages": [
            ("基础套餐", "含机构公章、法定代表人章", 280_00, 1, 2),
            ("三年优享套餐", "含机构公章、法定代表人章，三年有效", 250_00, 3, 3),
        ],
    },
    {
        "code": "lingnan",
        "mchid": "1900000103",
        "name": "岭南信任服务（演示）",
        "contact_phone": "0757-8000-0003",
        "bank_account_name": "岭南信任服务股份有限公司（演示）",
        "bank_name": "招商银行佛山分行营业部（演示）",
        "bank_account_number": "7579 0000 0000 0003",
        "transfer_remark_format": "LN{ref}",
        "packages": [("企业套餐", "含机构公章、法定代表人章", 320_00, 1, 5)],
    },
]

AGREEMENT_BODY = """甲方：{ca}
乙方：数字证书申请企业

一、服务内容
甲方依据《中华人民共和国电子签名法》为乙方签发移动数字证书，证书包含乙方机构公章与法定代表人章，用于广东省内公共资源交易等电子签名场景。

二、乙方义务
1. 乙方应提供真实、准确、完整的企业信息及授权材料，并对其真实性负责。
2. 乙方应妥善管理证书的使用授权，员工离职或变更时应及时取消授权。
3. 证书发生遗失、泄露或信息变更时，乙方应立即申请挂失或注销。

三、甲方义务
1. 甲方按照国家标准签发、管理和撤销数字证书，并提供证书状态查询服务。
2. 甲方对乙方提交的信息予以保密，法律法规另有规定的除外。

四、费用
证书费用按所选套餐、有效期及授权员工数量计算，由乙方通过微信支付或对公转账支付给甲方。

五、其他
本协议自乙方在线勾选同意之日起生效，有效期至证书失效之日止。（本协议为演示文本）"""

DEMO_PASSWORDS = {
    "operator": ("13900000000", "yqq-demo-operator"),
    "support": ("13900000001", "yqq-demo-support"),
}
# Fictional WeChat Pay merchants: the sandbox provider signs their notifications itself.
DEMO_APPID = "wxd7demo000000001"
REVIEWER_PASSWORD = "yqq-demo-reviewer"  # noqa: S105 - demo login, refused outside DEBUG

# View permissions only for 客服 and CA审核员: every admin is read-only, and the bank-transfer
# review is its own view that checks the reviewer's role and CA (authorization/review.py). A CA
# reviewer's views are scoped to their own CA there too.
_ORDER_VIEWS = [
    "orders.view_order",
    "orders.view_orderevent",
    "orders.view_payment",
    "orders.view_agreementacceptance",
    "authorization.view_banktransfer",
    "certificates.view_enterprisecertificate",
    "invoices.view_invoice",
]
GROUP_PERMISSIONS = {
    "运营": [
        "certificates.view_cainstitution",
        "certificates.change_cainstitution",
        "certificates.add_cainstitution",
        "certificates.view_cacertificate",
        "certificates.view_package",
        "certificates.change_package",
        "certificates.add_package",
        "certificates.view_agreementversion",
        "certificates.add_agreementversion",
        "orders.view_order",
        "orders.view_orderevent",
        "orders.view_payment",
        "orders.view_agreementacceptance",
        "orders.view_wechatpaymerchant",
        "certificates.view_enterprisecertificate",
        "invoices.view_invoice",
    ],
    "客服": [*_ORDER_VIEWS, "accounts.view_smscode"],
    "CA审核员": _ORDER_VIEWS,
}


class Command(BaseCommand):
    help = "Load the demo CAs, packages, agreements and staff logins (embedded default only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG on (the embedded default).")
        with transaction.atomic():
            groups = self._groups()
            cas = [self._ca(spec) for spec in DEMO_CAS]
            logins = self._staff(groups, cas)
        self.stdout.write(self.style.SUCCESS("演示数据已就绪。管理后台 /admin/ 登录："))
        for role, phone, password in logins:
            self.stdout.write(f"  {role:<28} 手机号 {phone}  密码 {password}")
        self.stdout.write("  手机端用户：任意手机号 + 页面显示的验证码（DEBUG 模式）")

    def _groups(self) -> dict[str, Group]:
        groups = {}
        for name, codenames in GROUP_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=name)
            perms = [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in (c.split(".") for c in codenames)
            ]
            group.permissions.set(perms)
            groups[name] = group
        return groups

    def _ca(self, spec: dict) -> CAInstitution:
        fields = {k: v for k, v in spec.items() if k not in {"code", "packages", "mchid"}}
        ca, _ = CAInstitution.objects.get_or_create(code=spec["code"], defaults=fields)
        if not ca.certificates.exists():
            ca_hierarchy_create(ca=ca)
            self.stdout.write(f"已为 {ca.name} 生成根CA与签发CA")
        for order, (name, description, price, min_years, max_years) in enumerate(spec["packages"]):
            Package.objects.get_or_create(
                ca=ca,
                name=name,
                defaults={
                    "description": description,
                    "price_per_year_fen": price,
                    "min_years": min_years,
                    "max_years": max_years,
                    "sort_order": order,
                },
            )
        AgreementVersion.objects.get_or_create(
            ca=ca,
            version=1,
            defaults={
                "title": f"{ca.name}数字证书业务协议书",
                "body": AGREEMENT_BODY.format(ca=ca.name),
                "published_at": timezone.now(),
            },
        )
        if not WechatPayMerchant.objects.filter(ca=ca).exists():
            self._merchant(ca, mchid=spec["mchid"])
            self.stdout.write(f"已为 {ca.name} 开通沙箱微信支付商户 {spec['mchid']}")
        return ca

    def _merchant(self, ca: CAInstitution, *, mchid: str) -> WechatPayMerchant:
        platform = SandboxPlatform.generate()
        alphabet = string.ascii_letters + string.digits
        return wechatpay_merchant_create(
            ca=ca,
            mchid=mchid,
            appid=DEMO_APPID,
            merchant_serial=secrets.token_hex(20).upper(),
            merchant_private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            api_v3_key="".join(secrets.choice(alphabet) for _ in range(32)),
            platform_serial=platform.serial,
            platform_public_key=platform.public_key(),
            sandbox_platform=platform,
        )

    def _staff(self, groups: dict[str, Group], cas: list[CAInstitution]) -> list[tuple]:
        logins = []
        phone, password = DEMO_PASSWORDS["operator"]
        self._user(phone, password, "运营演示账号", groups["运营"], superuser=True)
        logins.append(("运营（超级管理员）", phone, password))
        phone, password = DEMO_PASSWORDS["support"]
        self._user(phone, password, "客服演示账号", groups["客服"])
        logins.append(("客服", phone, password))
        for index, ca in enumerate(cas, start=2):
            phone = f"1390000000{index}"
            self._user(phone, REVIEWER_PASSWORD, f"{ca.name}审核员", groups["CA审核员"], ca=ca)
            logins.append((f"CA审核员 · {ca.name}", phone, REVIEWER_PASSWORD))
        return logins

    def _user(self, phone, password, name, group, *, superuser=False, ca=None) -> User:
        user = User.objects.filter(phone=phone).first()
        if user is None:
            user = User.objects.create_user(
                phone,
                password,
                name=name,
                is_staff=True,
                is_superuser=superuser,
                ca_institution=ca,
            )
        user.groups.add(group)
        return user
