"""对公银行账号转账验证授权 (flow (二)3, bank transfer): everything that writes a BankTransfer.

The applicant fills in the company and its corporate account, uploads 营业执照 and the signed
业务授权书, transfers the amount to the CA's account with a remark that quotes the order's
reference code, and uploads the voucher: the order goes to 待审核 for 客服 and then the CA
(authorization/review.py). A rejected order comes back here to be corrected and resubmitted.

Uploads reach these services already cleaned (authorization.uploads.CleanFile). Files are
written to storage before the transaction commits, so a failed transaction deletes what it
wrote, and a replaced file is deleted only once the replacement is committed.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import identity_for
from orders.models import Order
from orders.services import TransitionConflict, order_transition
from orders.states import AuthorizationMethod, OrderKind, OrderStatus
from yueqiqian import ratelimit

from .models import BankTransfer
from .uploads import CleanFile

# Statuses in which the applicant may fill in and submit the transfer: before authorization,
# and after a rejection (to correct and resubmit).
TRANSFER_STATUSES = frozenset({OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.REJECTED})
# Read aloud, typed into a bank app's remark field, compared by a reviewer: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8
REFERENCE_ATTEMPTS = 8
SUBMIT_REASON = "上传转账凭证，等待审核"
LETTER_EMAIL_SCOPE = "letter_email_user"


class TransferError(Exception):
    """The request was refused; `message` is shown to the applicant as it is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# ---- Reads -------------------------------------------------------------------------------------


def transfer_for(order: Order) -> BankTransfer | None:
    return BankTransfer.objects.filter(order_id=order.pk).first()


BANK_INFO_FIELDS = ("company_name", "bank_account", "business_license", "signed_letter")


def transfer_missing(transfer: BankTransfer | None) -> list[str]:
    """What must still be filled in before the voucher (field names, in page order)."""
    return [name for name in BANK_INFO_FIELDS if transfer is None or not getattr(transfer, name)]


def transfer_remark(order: Order) -> str:
    """The remark the transfer must carry, in the order's CA's own format."""
    transfer = order.bank_transfer
    return order.ca.transfer_remark(ref=transfer.reference, credit_code=order.credit_code)


def transfer_rejection_reason(order: Order, transfer: BankTransfer | None) -> str:
    """Why the last review rejected the order: the CA's reason when the CA rejected it, else
    support's; the rejection event's reason when the transfer row has none."""
    if transfer is not None:
        if transfer.ca_decision == BankTransfer.Decision.REJECTED and transfer.ca_reason:
            return transfer.ca_reason
        if transfer.support_decision == BankTransfer.Decision.REJECTED and transfer.support_reason:
            return transfer.support_reason
    event = order.events.filter(to_status=OrderStatus.REJECTED).order_by("-created_at").first()
    return event.reason if event else ""


# ---- Checks and locks --------------------------------------------------------------------------


def _check_applicant(order: Order, actor: User) -> None:
    if order.applicant_id != actor.pk or order.kind != OrderKind.NEW_CERTIFICATE:
        raise TransferError("只有订单申请人可以办理对公转账授权")


def _check_status(order: Order) -> None:
    if order.status not in TRANSFER_STATUSES:
        raise TransferError(f"订单当前状态为「{order.get_status_display()}」，不能办理对公转账授权")


def _order_for_update(order: Order) -> Order:
    """The order's row, locked until the transaction ends; refused unless it may still take a
    transfer. Two tabs submitting at once queue here."""
    locked = Order.objects.select_for_update(of=("self",)).select_related("ca").get(pk=order.pk)
    _check_status(locked)
    return locked


def _transfer_for_update(order: Order) -> BankTransfer | None:
    return BankTransfer.objects.select_for_update().filter(order_id=order.pk).first()


def _reference_new() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


# ---- Files -------------------------------------------------------------------------------------


class _FileWrites:
    """Files written during one service call: deleted again if the call fails; the files
    they replace are deleted once the call has committed."""

    def __init__(self) -> None:
        self.written: list[tuple[Storage, str]] = []
        self.replaced: list[tuple[Storage, str]] = []

    def store(self, transfer: BankTransfer, field_name: str, clean: CleanFile) -> None:
        stored = getattr(transfer, field_name)
        if stored:
            self.replaced.append((stored.storage, stored.name))
        stored.save(clean.storage_name(), ContentFile(clean.content), save=False)
        self.written.append((stored.storage, stored.name))

    def commit(self) -> None:
        for storage, name in self.replaced:
            transaction.on_commit(partial(storage.delete, name), robust=True)

    def undo(self) -> None:
        for storage, name in self.written:
            storage.delete(name)


@contextmanager
def _file_writes() -> Iterator[_FileWrites]:
    writes = _FileWrites()
    try:
        yield writes
    except BaseException:
        writes.undo()
        raise


# ---- Services ----------------------------------------------------------------------------------


def transfer_start(
    *, order: Order, actor: User, company_name: str, bank_account: str
) -> BankTransfer:
    """Create the order's BankTransfer with a new reference code, or update its company name
    and account (the reference stays: a transfer may already quote it).

    Refused unless `actor` is the applicant and the order awaits authorization or was
    rejected. `company_name` and `bank_account` come validated from the form.
    """
    _check_applicant(order, actor)
    for _ in range(REFERENCE_ATTEMPTS):
        try:
            with transaction.atomic():
                locked = _order_for_update(order)
                transfer = _transfer_for_update(locked)
                if transfer is not None:
                    transfer.company_name = company_name
                    transfer.bank_account = bank_account
                    transfer.save(update_fields=["company_name", "bank_account", "updated_at"])
                    return transfer
                return BankTransfer.objects.create(
                    order=locked,
                    company_name=company_name,
                    bank_account=bank_account,
                    reference=_reference_new(),
                )
        except IntegrityError as exc:
            # 31^8 ≈ 850 billion codes: a collision is rare, but the database decides.
            if "reference" not in str(exc):
                raise
    raise RuntimeError("could not allocate a unique transfer reference")


def transfer_documents_save(
    *,
    transfer: BankTransfer,
    business_license: CleanFile | None,
    signed_letter: CleanFile | None,
) -> BankTransfer:
    """Store the 营业执照 and/or the signed 业务授权书 (None keeps what is there).

    The caller has checked that the user is the order's applicant (transfer_start did);
    the order's status is checked again here, under its lock.
    """
    documents = {"business_license": business_license, "signed_letter": signed_letter}
    documents = {name: clean for name, clean in documents.items() if clean is not None}
    if not documents:
        return transfer
    with _file_writes() as writes, transaction.atomic():
        _order_for_update(transfer.order)
        locked = _transfer_for_update(transfer.order)
        for name, clean in documents.items():
            writes.store(locked, name, clean)
        locked.save(update_fields=[*documents, "updated_at"])
        writes.commit()
    for name in documents:
        setattr(transfer, name, getattr(locked, name))
    return transfer


def transfer_submit(*, order: Order, actor: User, voucher: CleanFile | None) -> Order:
    """【上传凭证】: store the transfer voucher and send the order to 待审核.

    Needs the company, its account and both documents. After a rejection the applicant
    resubmits: both reviews start again from 待审核, and the voucher already uploaded may be
    kept (voucher=None) when the transfer itself was not what was wrong.
    """
    _check_applicant(order, actor)
    with _file_writes() as writes, transaction.atomic():
        locked = _order_for_update(order)
        transfer = _transfer_for_update(locked)
        missing = transfer_missing(transfer)
        if missing:
            raise TransferError("请先填写银行信息并上传营业执照和已签字的业务授权书")
        if voucher is not None:
            writes.store(transfer, "voucher", voucher)
        elif not transfer.voucher:
            raise TransferError("请上传转账凭证", field="voucher")
        transfer.voucher_uploaded_at = timezone.now()
        fields = ["voucher", "voucher_uploaded_at", "updated_at"]
        if locked.status == OrderStatus.REJECTED:
            # A new round: the last round's decisions and reasons stay in the order's events.
            pending = BankTransfer.Decision.PENDING
            transfer.support_decision = transfer.ca_decision = pending
            transfer.support_reviewer = transfer.ca_reviewer = None
            transfer.support_reason = transfer.ca_reason = ""
            transfer.support_reviewed_at = transfer.ca_reviewed_at = None
            fields += [
                "support_decision",
                "support_reviewer",
                "support_reason",
                "support_reviewed_at",
                "ca_decision",
                "ca_reviewer",
                "ca_reason",
                "ca_reviewed_at",
            ]
        transfer.save(update_fields=fields)
        try:
            submitted = order_transition(
                order=locked,
                to=OrderStatus.PENDING_REVIEW,
                actor=actor,
                reason=SUBMIT_REASON,
                authorization_method=AuthorizationMethod.BANK_TRANSFER,
            )
        except TransitionConflict:
            raise TransferError("订单状态已变化，请刷新页面后查看") from None
        writes.commit()
    order.status = submitted.status
    order.authorization_method = submitted.authorization_method
    return submitted


def letter_email_send(*, order: Order, actor: User, email: str = "") -> str:
    """发送至邮箱: queue the 业务授权书 PDF for `email` (the applicant's email by default).

    Rate limited per user (letter_email_user): every send is an e-mail from our domain to an
    address the user chose. Returns the address used. Raises TransferError for a bad address
    or an order whose letter cannot be written yet, RateLimited past the limit.
    """
    from authorization.letter import letter_data_for

    from .tasks import letter_email_deliver

    _check_applicant(order, actor)
    email = (email or order.applicant_email or "").strip()
    if not email:
        raise TransferError("请输入邮箱地址", field="email")
    try:
        validate_email(email)
    except ValidationError:
        raise TransferError("请输入有效的邮箱地址", field="email") from None
    identity = identity_for(actor)
    try:
        # Everything the letter needs is there (the task writes it again when it runs).
        letter_data_for(order, applicant_identity=identity, today=timezone.localdate())
    except (ValueError, AttributeError):
        raise TransferError("订单信息不完整，暂时无法生成业务授权书") from None
    ratelimit.hit(LETTER_EMAIL_SCOPE, f"user:{actor.pk}")
    letter_email_deliver.delay_on_commit(order_id=order.pk, email=email)
    return email
