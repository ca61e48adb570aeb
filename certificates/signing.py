"""电子签章: PAdES signatures with an enterprise certificate, and their verification.

Pure: bytes and `cryptography` objects in, bytes and dataclasses out — no database. The services
(signing_services.py) load the key, the seal and the CA roots, check who may sign, and log.

Signing makes a PAdES B-B signature (ETSI EN 319 142-1 baseline, /SubFilter ETSI.CAdES.detached)
with pyHanko: SHA-256, ECDSA with the enterprise's P-256 key, the issuing CA and root embedded so
a relying party can build the chain, and the enterprise's official seal as the visible stamp. It
is an approval signature, not a certification (DocMDP) one: a tender document may need further
signatures (a partner, the tendering agency), which a certification signature would forbid.

B-T (a trusted timestamp) would need a timestamping authority, and the platform has none it can
reach offline; `PdfSigner` takes a `timestamper` when one exists. Until then the signing time is
the one the signature claims, and the platform's own signing log corroborates it.

The seal is a picture (the stored PNG, text already drawn into it), shown by pyHanko as the
background of a stamp with no text: pyHanko never renders Chinese text, which would cost ~0.6 s
a signature to load and subset a CJK font (BASELINES.md).
"""

import asyncio
import datetime as dt
import hashlib
import io
import logging
import uuid
import warnings
from dataclasses import dataclass, field

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from django.db import models
from PIL import Image

logger = logging.getLogger(__name__)

SIGNATURE_REASON = "粤企签电子签章"
# About 4 cm: the size of a real company seal.
SEAL_SIZE_PT = 113
# Distance from the edges of the visible page, about 1.3 cm: clear of most printers' margins.
SEAL_MARGIN_PT = 36
# Room for the CMS object (three EC certificates and the signature: ~3 KB). Known in advance,
# so pyHanko signs once instead of signing a dry run to measure it (BASELINES.md).
BYTES_RESERVED = 16384
FIELD_NAME_PREFIX = "YQSeal"

UNREADABLE_PDF_MESSAGE = "PDF 文件无法签章，请重新导出（如“另存为 PDF”）后再上传"


class SealPosition(models.TextChoices):
    """Where the seal goes on the chosen page, as the signer sees the page."""

    BOTTOM_RIGHT = "bottom_right", "右下角"
    BOTTOM_LEFT = "bottom_left", "左下角"
    TOP_RIGHT = "top_right", "右上角"
    CENTER = "center", "页面中央"


class PdfUnsignable(Exception):
    """The PDF cannot be signed as asked; `message` is for the user, `field` names the form
    field it is about ("document" or "page")."""

    def __init__(self, message: str, *, field: str = "document") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class SigningCredentials:
    certificate: x509.Certificate
    private_key: PrivateKeyTypes = field(repr=False)
    # The issuing CA, then the root: embedded in the signature for building the chain.
    chain: tuple[x509.Certificate, ...] = ()


# ---- Reading the PDF --------------------------------------------------------------------------


def _reader(pdf: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf))


def pdf_page_count(pdf: bytes) -> int:
    """The number of pages, as pyHanko (which will sign it) reads the file."""
    try:
        return int(_reader(pdf).root["/Pages"]["/Count"])
    # pyHanko raises its own errors, and on damaged input also KeyError, TypeError…
    except Exception as exc:
        logger.info("PDF unreadable for signing: %r", exc)
        raise PdfUnsignable(UNREADABLE_PDF_MESSAGE) from exc


def _inherited(page, key: str):
    """A page attribute that may sit on the page or any /Pages node above it."""
    node = page
    while node is not None:
        if key in node:
            return node[key]
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    return None


def _box(value) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@dataclass(frozen=True)
class PageGeometry:
    # The visible area (the crop box, within the media box) in user space.
    box: tuple[float, float, float, float]
    # Clockwise degrees the viewer turns the page: 0, 90, 180 or 270.
    rotation: int


def page_geometry(page) -> PageGeometry:
    media = _box(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(_inherited(page, "/CropBox")) or media
    visible = (
        max(media[0], crop[0]),
        max(media[1], crop[1]),
        min(media[2], crop[2]),
        min(media[3], crop[3]),
    )
    if visible[2] <= visible[0] or visible[3] <= visible[1]:
        visible = media
    rotation = int(_inherited(page, "/Rotate") or 0) % 360
    if rotation not in (0, 90, 180, 270):
        rotation = 0
    return PageGeometry(box=visible, rotation=rotation)


# ---- Placing the seal -------------------------------------------------------------------------


def seal_rect(
    geometry: PageGeometry, position: str, *, size: float = SEAL_SIZE_PT
) -> tuple[int, int, int, int]:
    """The seal's rectangle (x0, y0, x1, y1) in the page's user space, so that it sits at
    `position` of the page as a viewer shows it (crop box, /Rotate applied).

    A page too small for a 4 cm seal and its margins gets a smaller one.
    """
    x0, y0, x1, y1 = geometry.box
    width, height = x1 - x0, y1 - y0
    turned = geometry.rotation in (90, 270)
    shown_w, shown_h = (height, width) if turned else (width, height)
    margin = min(SEAL_MARGIN_PT, shown_w / 10, shown_h / 10)
    size = max(1.0, min(size, shown_w - 2 * margin, shown_h - 2 * margin))
    # Lower-left corner of the seal in the page as shown (origin bottom left, y up).
    if position == SealPosition.BOTTOM_LEFT:
        u, v = margin, margin
    elif position == SealPosition.TOP_RIGHT:
        u, v = shown_w - margin - size, shown_h - margin - size
    elif position == SealPosition.CENTER:
        u, v = (shown_w - size) / 2, (shown_h - size) / 2
    else:
        u, v = shown_w - margin - size, margin

    def to_user(su: float, sv: float) -> tuple[float, float]:
        # Undo the viewer's clockwise turn: shown (u, v) → offsets from the box's corner.
        if geometry.rotation == 90:
            return width - sv, su
        if geometry.rotation == 180:
            return width - su, height - sv
        if geometry.rotation == 270:
            return sv, height - su
        return su, sv

    (ax, ay), (bx, by) = to_user(u, v), to_user(u + size, v + size)
    return (
        round(x0 + min(ax, bx)),
        round(y0 + min(ay, by)),
        round(x0 + max(ax, bx)),
        round(y0 + max(ay, by)),
    )


_TURN_BACK = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _seal_image(seal_png: bytes, rotation: int) -> Image.Image:
    """The seal, turned against the page's /Rotate so that it reads upright on screen."""
    with Image.open(io.BytesIO(seal_png), formats=("PNG",)) as image:
        image.load()
        seal = image.convert("RGBA") if image.mode != "RGBA" else image.copy()
    if rotation in _TURN_BACK:
        seal = seal.transpose(_TURN_BACK[rotation])
    return seal


def _stamp_style(seal: Image.Image):
    from pyhanko.pdf_utils import layout
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.stamp import StaticStampStyle

    return StaticStampStyle(
        background=PdfImage(seal),
        background_opacity=1.0,
        border_width=0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0),
        ),
    )


# ---- Signing ----------------------------------------------------------------------------------


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signer(credentials: SigningCredentials):
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = asn1_keys.PrivateKeyInfo.load(
        credentials.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SimpleSigner(
        signing_cert=_asn1_certificate(credentials.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(
            [_asn1_certificate(cert) for cert in credentials.chain]
        ),
    )


def pdf_sign(
    *,
    pdf: bytes,
    credentials: SigningCredentials,
    seal_png: bytes,
    page: int,
    position: str,
    signer_name: str,
) -> bytes:
    """Sign the PDF with a visible seal on `page` (1-based) at `position`; the signed PDF.

    The original bytes stay as they are (an incremental update is appended), so signatures
    already on the document stay valid. Raises PdfUnsignable when the file cannot be read or
    the page does not exist.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
    from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner

    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        pages = int(writer.root["/Pages"]["/Count"])
        if not 1 <= page <= pages:
            raise PdfUnsignable(f"该文件共 {pages} 页，盖章页码请填写 1–{pages}", field="page")
        page_ref, _ = writer.find_page_for_modification(page - 1)
        geometry = page_geometry(page_ref.get_object())
    except PdfUnsignable:
        raise
    except Exception as exc:
        logger.info("PDF unreadable for signing: %r", exc)
        raise PdfUnsignable(UNREADABLE_PDF_MESSAGE) from exc

    field_name = f"{FIELD_NAME_PREFIX}-{uuid.uuid4().hex[:12]}"
    signer = PdfSigner(
        PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=SIGNATURE_REASON,
            name=signer_name,
        ),
        signer=_signer(credentials),
        stamp_style=_stamp_style(_seal_image(seal_png, geometry.rotation)),
        new_field_spec=SigFieldSpec(
            sig_field_name=field_name,
            on_page=page - 1,
            box=seal_rect(geometry, position),
        ),
    )
    try:
        output = signer.sign_pdf(writer, bytes_reserved=BYTES_RESERVED)
    except Exception as exc:
        # Anything pyHanko could not write into (a damaged form, an odd page tree…) is the
        # document's problem; our key and certificate were built to sign.
        logger.warning("pyHanko could not sign the PDF: %r", exc, exc_info=True)
        raise PdfUnsignable(UNREADABLE_PDF_MESSAGE) from exc
    return output.getvalue()


# ---- Verifying --------------------------------------------------------------------------------


class Verdict(models.TextChoices):
    VALID = "valid", "有效签名"
    MODIFIED = "modified", "文档已被修改"
    UNTRUSTED = "untrusted", "签名证书不是本平台 CA 签发"
    UNSIGNED = "unsigned", "未签名"
    UNREADABLE = "unreadable", "无法识别的文件"


# The document's verdict is its worst signature's.
VERDICT_ORDER = (Verdict.VALID, Verdict.UNTRUSTED, Verdict.MODIFIED)


def _out_of_period():
    from pyhanko.sign.ades.report import AdESIndeterminate

    return frozenset(
        {
            AdESIndeterminate.NOT_YET_VALID,
            AdESIndeterminate.EXPIRED,
            AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
            AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        }
    )


@dataclass(frozen=True)
class SignatureFinding:
    """One signature in the document, as pyHanko judged it."""

    field_name: str
    verdict: Verdict
    intact: bool  # the signed bytes hash to what was signed, and the signature verifies
    unchanged: bool  # nothing was changed after signing beyond what signing allows
    trusted: bool  # the signature verifies and its certificate chains to one of our CA roots
    problem: str  # what went wrong, in Chinese; "" when nothing did
    enterprise_name: str
    credit_code: str
    serial_hex: str
    fingerprint: str  # SHA-256 of the signer's certificate, hex
    issuer_name: str
    signed_at: dt.datetime | None  # as the signer claims (PAdES B-B has no trusted time)
    # Fingerprints of the chain from the signer's certificate up to the trust root, when one
    # was found.
    chain_fingerprints: tuple[str, ...]
    # SHA-256 of the file as it was when this signature was made (its signed revision).
    revision_sha256: str


@dataclass(frozen=True)
class VerificationResult:
    verdict: Verdict
    signatures: tuple[SignatureFinding, ...] = ()


def _name_part(name: x509.Name, oid) -> str:
    # A Chinese commonName over 64 bytes (22+ characters) is within X.520 but makes
    # cryptography warn when the name is read (certificates/issuance.py).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _crypto_certificate(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _validation_context(
    *, roots: list[x509.Certificate], intermediates: list[x509.Certificate], moment: dt.datetime
):
    from pyhanko_certvalidator import ValidationContext

    # Only our roots: an empty list trusts nothing (None would mean the OS's TLS roots). No
    # fetching: the certificate's status comes from our database, not from a CRL download.
    return ValidationContext(
        trust_roots=[_asn1_certificate(cert) for cert in roots],
        other_certs=[_asn1_certificate(cert) for cert in intermediates],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )


def pdf_verify(
    pdf: bytes,
    *,
    roots: list[x509.Certificate],
    intermediates: list[x509.Certificate],
    now: dt.datetime | None = None,
) -> VerificationResult:
    """Check every signature in the PDF: intact, unchanged since, and chaining to `roots`.

    Each signature is judged at the time it claims to have been made (no later than now), as
    Adobe Reader does by default: a signature made while the certificate was valid stays valid
    after the certificate expires. Whether the certificate is revoked or expired *now* is the
    caller's to say, from its own records.
    """
    now = now or dt.datetime.now(dt.UTC)
    # Readers accept the header anywhere in the first kilobyte.
    if b"%PDF-" not in pdf[:1024]:
        return VerificationResult(verdict=Verdict.UNREADABLE)
    try:
        reader = _reader(pdf)
        embedded = list(reader.embedded_regular_signatures)
    except Exception as exc:
        logger.info("PDF unreadable for verification: %r", exc)
        return VerificationResult(verdict=Verdict.UNREADABLE)
    if not embedded:
        return VerificationResult(verdict=Verdict.UNSIGNED)

    async def judge_all() -> list[SignatureFinding]:
        return [
            await _judge(sig, pdf, roots=roots, intermediates=intermediates, now=now)
            for sig in embedded
        ]

    findings = asyncio.run(judge_all())
    worst = max((f.verdict for f in findings), key=VERDICT_ORDER.index)
    return VerificationResult(verdict=worst, signatures=tuple(findings))


async def _judge(
    embedded,
    pdf: bytes,
    *,
    roots: list[x509.Certificate],
    intermediates: list[x509.Certificate],
    now: dt.datetime,
) -> SignatureFinding:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import async_validate_pdf_signature

    try:
        cert = _crypto_certificate(embedded.signer_cert)
    except Exception as exc:
        logger.info("signature without a readable signer certificate: %r", exc)
        cert = None
    claimed = _claimed_time(embedded)
    moment = min(claimed, now) if claimed else now
    try:
        context = _validation_context(roots=roots, intermediates=intermediates, moment=moment)
        status = await async_validate_pdf_signature(embedded, context)
    except Exception as exc:
        # A damaged CMS object, a /ByteRange that does not describe the file, an unsupported
        # algorithm… the signature cannot vouch for anything.
        logger.info("signature could not be validated: %r", exc)
        return _finding(
            embedded,
            pdf,
            cert=cert,
            claimed=claimed,
            verdict=Verdict.MODIFIED,
            intact=False,
            unchanged=False,
            trusted=False,
            problem="签名数据已损坏，无法验证",
        )

    intact = bool(status.intact and status.valid)
    level = status.modification_level
    unchanged = intact and level is not None and level != ModificationLevel.OTHER
    unchanged = unchanged and status.docmdp_ok is not False
    # Whose signature it is does not depend on the content: when the signature over the signed
    # attributes verifies, the certificate signed *something*, and its chain can be judged even
    # if the document was changed afterwards. (pyHanko's `trusted` also asks for `intact`.)
    trusted = bool(
        status.valid and status.validation_path is not None and status.trust_problem_indic is None
    )
    if not intact:
        verdict, problem = Verdict.MODIFIED, "签名后文档内容已被改动，签名与内容不符"
    elif not unchanged:
        verdict, problem = Verdict.MODIFIED, "签名后文档又被追加修改（如改动页面内容）"
    elif not trusted:
        verdict = Verdict.UNTRUSTED
        # No chain at all, or a look-alike CA with one of our CAs' names whose signature on
        # the certificate does not verify: either way, not ours.
        problem = (
            "签署时间不在签名证书的有效期内"
            if status.trust_problem_indic in _out_of_period()
            else "签名证书无法链接到本平台的 CA 根证书"
        )
    else:
        verdict, problem = Verdict.VALID, ""
    chain = ()
    if trusted and status.validation_path is not None:
        chain = tuple(
            hashlib.sha256(c.dump()).hexdigest()
            for c in reversed(list(status.validation_path.iter_certs(include_root=True)))
        )
    return _finding(
        embedded,
        pdf,
        cert=cert,
        claimed=claimed,
        verdict=verdict,
        intact=intact,
        unchanged=unchanged,
        trusted=trusted,
        problem=problem,
        chain=chain,
    )


def _claimed_time(embedded) -> dt.datetime | None:
    """The signing time the signature states (/M for PAdES), timezone-aware."""
    try:
        claimed = embedded.self_reported_timestamp
    except Exception:
        return None
    if claimed is not None and claimed.tzinfo is None:
        # A PDF date may omit its offset ("relation to UT unknown"): read it as UTC.
        claimed = claimed.replace(tzinfo=dt.UTC)
    return claimed


def _finding(
    embedded,
    pdf: bytes,
    *,
    cert: x509.Certificate | None,
    claimed: dt.datetime | None,
    verdict: Verdict,
    intact: bool,
    unchanged: bool,
    trusted: bool,
    problem: str,
    chain: tuple[str, ...] = (),
) -> SignatureFinding:
    try:
        *_, second_start, second_length = (int(v) for v in embedded.byte_range)
        revision = pdf[: second_start + second_length]
    except Exception:
        revision = b""
    try:
        field_name = str(embedded.field_name)
    except Exception:
        field_name = ""
    return SignatureFinding(
        field_name=field_name,
        verdict=verdict,
        intact=intact,
        unchanged=unchanged,
        trusted=trusted,
        problem=problem,
        enterprise_name=_name_part(cert.subject, NameOID.ORGANIZATION_NAME) if cert else "",
        credit_code=_name_part(cert.subject, NameOID.ORGANIZATION_IDENTIFIER) if cert else "",
        serial_hex=format(cert.serial_number, "x") if cert else "",
        fingerprint=cert.fingerprint(hashes.SHA256()).hex() if cert else "",
        issuer_name=(
            _name_part(cert.issuer, NameOID.ORGANIZATION_NAME)
            or _name_part(cert.issuer, NameOID.COMMON_NAME)
            if cert
            else ""
        ),
        signed_at=claimed,
        chain_fingerprints=chain,
        revision_sha256=hashlib.sha256(revision).hexdigest() if revision else "",
    )
