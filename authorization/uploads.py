"""Uploaded documents for bank-transfer authorization: 营业执照, the signed 业务授权书 and the
transfer voucher. Each must be a JPEG, PNG or PDF, judged by its content alone — never by its
name or the browser's content type — and comes back as a CleanFile that is safe to store.

Images are decoded completely and re-encoded: whatever rode along in the file (EXIF with the
phone's location, text chunks, an HTML payload appended after the image data) does not survive.
PDFs must parse and carry no active content (JavaScript, launch actions, embedded files…); their
original bytes are kept, because re-writing a PDF can break a digital signature on it (bank
e-receipts are often signed) and would change what the reviewer sees.

Files are stored under a random name with the detected extension (`CleanFile.storage_name`);
the user's file name is never used on disk.
"""

import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopFutureHandlers
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

UNSUPPORTED_MESSAGE = "仅支持 JPG、PNG 或 PDF 文件"
EMPTY_MESSAGE = "文件为空，请重新选择"
IMAGE_UNREADABLE_MESSAGE = "图片已损坏或无法识别，请重新拍摄或选择"
IMAGE_TOO_LARGE_MESSAGE = "图片尺寸过大，请压缩后再上传"
PDF_UNREADABLE_MESSAGE = "PDF 文件已损坏或无法打开，请重新导出后上传"
PDF_ENCRYPTED_MESSAGE = "不支持加密的 PDF 文件，请上传未加密的文件或截图"
PDF_NO_PAGES_MESSAGE = "PDF 文件没有内容页"
PDF_ACTIVE_CONTENT_MESSAGE = "PDF 文件含有脚本、附件或自动操作，请另存为普通 PDF 或截图后上传"

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"

# A photo or scan of an A4 document needs a few megapixels; a 200-megapixel phone shot is
# still allowed. Both limits sit below Pillow's own decompression-bomb threshold (~89 MP,
# process-wide and not ours to lower), so an image that would set off its warning is refused
# here first. PNGs are decoded at full size and flat colours compress to almost nothing, so a
# small PNG can declare a huge canvas: they get the tighter limit.
MAX_PIXELS = {"JPEG": 60_000_000, "MPO": 60_000_000, "PNG": 30_000_000}
# Re-encoded images are at most this many pixels on their longer side: plenty to read a
# licence's smallest print, and it bounds the memory a 200 MP JPEG costs (decoded in draft
# mode at a fraction of its size).
MAX_SIDE = 4096
JPEG_QUALITY = 88
PDF_MAX_PAGES = 50
# Objects inspected in one PDF before giving up on it; a 10 MB scan has a few hundred.
PDF_MAX_OBJECTS = 100_000
# The checks decode only object and cross-reference streams (never page contents or images);
# those are small, so a stream that inflates past this is a compression bomb, not a document.
PDF_MAX_DECODED_STREAM = 16 * 1024 * 1024

# Actions that run a script or a program, submit or import data, play media, or open another
# file. What is left (/GoTo, /URI, /Named, /Thread, /Hide, /SetOCGState, /Trans…) stays inside
# the viewer or waits for a click; actions that run by themselves (/AA, a dictionary
# /OpenAction) are refused wherever they point.
PDF_FORBIDDEN_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/ImportData",
        "/SubmitForm",
        "/GoToR",
        "/GoToE",
        "/GoToDp",
        "/Rendition",
        "/Sound",
        "/Movie",
        "/RichMediaExecute",
    }
)
# Keys that only appear on scripts, automatic actions, embedded files, XFA forms (which carry
# their own scripts) and rich media.
PDF_FORBIDDEN_KEYS = frozenset(
    {"/JS", "/JavaScript", "/AA", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent"}
)
PDF_FORBIDDEN_TYPES = frozenset(
    {"/EmbeddedFile", "/FileAttachment", "/RichMedia", "/Sound", "/Movie", "/Screen"}
)


class UploadRejected(Exception):
    """The upload is not a file we accept; `message` is shown to the user as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CleanFile:
    content: bytes = field(repr=False)
    extension: str  # "jpg", "png" or "pdf": from the content, never from the user's name
    content_type: str

    def storage_name(self) -> str:
        return f"{uuid.uuid4().hex}.{self.extension}"


CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}


def size_label(size: int) -> str:
    """10485760 → '10MB'."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g}MB"
    return f"{max(1, size // 1024)}KB"


def too_large_message(max_bytes: int) -> str:
    return f"文件不能超过 {size_label(max_bytes)}"


def _read(uploaded_file: Any, max_bytes: int) -> bytes:
    """At most max_bytes + 1 bytes: enough to know the file is too large."""
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > max_bytes:
        raise UploadRejected(too_large_message(max_bytes))
    if hasattr(uploaded_file, "seek"):
        uploaded_file.seek(0)
    chunks: list[bytes] = []
    total = 0
    for chunk in _chunks(uploaded_file):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise UploadRejected(too_large_message(max_bytes))
    return b"".join(chunks)


def _chunks(uploaded_file: Any) -> Iterator[bytes]:
    if hasattr(uploaded_file, "chunks"):
        yield from uploaded_file.chunks()
    else:
        yield uploaded_file.read()


def clean_upload(uploaded_file: Any, *, max_bytes: int) -> CleanFile:
    """Judge an uploaded file by its content and return what may be stored.

    Raises UploadRejected with a message for the user when the file is empty, too large, not
    a JPEG, PNG or PDF, damaged, or (for a PDF) encrypted, empty or carrying active content.
    """
    data = _read(uploaded_file, max_bytes)
    if not data:
        raise UploadRejected(EMPTY_MESSAGE)
    if data.startswith(JPEG_MAGIC):
        return _clean_image(data, "JPEG")
    if data.startswith(PNG_MAGIC):
        return _clean_image(data, "PNG")
    if data.startswith(PDF_MAGIC):
        return _clean_pdf(data)
    raise UploadRejected(UNSUPPORTED_MESSAGE)


# ---- Images -------------------------------------------------------------------------------


def _clean_image(data: bytes, kind: str) -> CleanFile:
    # Only the decoder the magic bytes named: Pillow's other plugins (EPS runs Ghostscript)
    # never see the file.
    formats = ("JPEG", "MPO") if kind == "JPEG" else ("PNG",)
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            width, height = image.size
            if width * height > MAX_PIXELS.get(image.format or "", 0):
                raise UploadRejected(IMAGE_TOO_LARGE_MESSAGE)
            image.verify()  # structure and checksums; the object is unusable afterwards
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB" if image.mode == "RGB" else None, (MAX_SIDE, MAX_SIDE))
            image.load()  # every pixel: a truncated file fails here
            image = ImageOps.exif_transpose(image)  # the photo as the phone showed it
            content = _reencode(image, kind)
    except UploadRejected:
        raise
    # DecompressionBombWarning is only a warning unless warnings are errors; the pixel limit
    # above refuses every image that could raise it, and if it is raised it is an error.
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        MemoryError,
    ) as exc:
        logger.info("image upload refused: %s", exc)
        raise UploadRejected(IMAGE_UNREADABLE_MESSAGE) from exc
    extension = "jpg" if kind == "JPEG" else "png"
    return CleanFile(content=content, extension=extension, content_type=CONTENT_TYPES[extension])


def _reencode(image: Image.Image, kind: str) -> bytes:
    """Pixels only, in a fresh image: no EXIF, ICC profile, comments, text chunks or trailing
    bytes of the original reach the output."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if kind == "JPEG":
        mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
    elif image.mode in ("1", "L", "LA", "RGB", "RGBA"):
        mode = image.mode
    elif image.mode in ("I", "I;16", "F"):
        mode = "L"
    else:
        mode = "RGBA" if has_alpha else "RGB"
    if image.mode in ("I", "I;16", "F"):
        # 16-bit greyscale scans: scale to 8 bits instead of clipping everything to white.
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode != mode:
        image = image.convert(mode)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    out = io.BytesIO()
    if kind == "JPEG":
        fresh.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    else:
        fresh.save(out, "PNG", optimize=True)
    return out.getvalue()


# ---- PDFs ---------------------------------------------------------------------------------


def _clean_pdf(data: bytes) -> CleanFile:
    from pypdf import PdfReader, apply_configuration

    limits = {
        f"{name}_maximum_output_length": PDF_MAX_DECODED_STREAM
        for name in ("zlib", "lzw", "run_length", "brotli", "jbig2")
    }
    try:
        with apply_configuration(**limits):
            _pdf_check(PdfReader(io.BytesIO(data), strict=False))
    except UploadRejected:
        raise
    # pypdf raises its own errors, and on hostile input also KeyError, TypeError,
    # RecursionError…: anything it cannot read is a file we cannot accept.
    except Exception as exc:
        logger.info("PDF upload refused: %r", exc)
        raise UploadRejected(PDF_UNREADABLE_MESSAGE) from exc
    return CleanFile(content=data, extension="pdf", content_type=CONTENT_TYPES["pdf"])


def _pdf_check(reader: Any) -> None:
    """Readable, not encrypted, 1–PDF_MAX_PAGES pages, no active content."""
    if reader.is_encrypted:
        raise UploadRejected(PDF_ENCRYPTED_MESSAGE)
    pages = len(reader.pages)
    if pages < 1:
        raise UploadRejected(PDF_NO_PAGES_MESSAGE)
    if pages > PDF_MAX_PAGES:
        raise UploadRejected(f"PDF 文件不能超过 {PDF_MAX_PAGES} 页")
    _pdf_refuse_active_content(reader)


def _pdf_refuse_active_content(reader: Any) -> None:
    """Walk every object reachable from the trailer (catalog, /Names, /OpenAction, /AA,
    pages, annotations and their /A actions, forms…) and refuse scripts, actions that run by
    themselves or leave the document, and embedded files.

    Walking the whole graph instead of a list of known places also finds a script hung
    somewhere unusual. pypdf has already decoded names (/Java#53cript is /JavaScript) and
    object streams, so neither hides anything from the check. Stream data (page contents,
    images) is never decoded.
    """
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    catalog = reader.trailer["/Root"].get_object()
    open_action = catalog.get("/OpenAction")
    if open_action is not None:
        open_action = open_action.get_object()
        # An array is a destination (open at page 1, fit width): harmless, and many PDF
        # writers add one. A dictionary is an action run on opening.
        if isinstance(open_action, DictionaryObject) and _resolved(open_action, "/S") != "/GoTo":
            raise UploadRejected(PDF_ACTIVE_CONTENT_MESSAGE)

    containers = (IndirectObject, DictionaryObject, ArrayObject)
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    visited = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        visited += 1
        if visited > PDF_MAX_OBJECTS:
            raise UploadRejected(PDF_UNREADABLE_MESSAGE)
        if isinstance(obj, DictionaryObject):  # stream dictionaries too
            if (
                not PDF_FORBIDDEN_KEYS.isdisjoint(obj.keys())
                or _resolved(obj, "/S") in PDF_FORBIDDEN_ACTIONS
                or _resolved(obj, "/Type") in PDF_FORBIDDEN_TYPES
                or _resolved(obj, "/Subtype") in PDF_FORBIDDEN_TYPES
            ):
                raise UploadRejected(PDF_ACTIVE_CONTENT_MESSAGE)
            stack.extend(value for value in obj.values() if isinstance(value, containers))
        elif isinstance(obj, ArrayObject):
            stack.extend(value for value in obj if isinstance(value, containers))


def _resolved(obj: Any, key: str) -> Any:
    """obj[key] with an indirect reference followed (DictionaryObject.get does not), or None;
    only hashable values (names, numbers), so it can be looked up in a set."""
    value = obj.get(key)
    if value is None:
        return None
    value = value.get_object()
    return value if isinstance(value, str | int | float) else None


# ---- Receiving uploads ----------------------------------------------------------------------


class LimitedUploadHandler(FileUploadHandler):
    """Receives the named file fields into memory, each up to max_bytes, and nothing else.

    A file that grows past the limit is dropped as it arrives — never written anywhere — and
    its field is named in `too_large`, so the form can say "too large" instead of "required".
    Install it before request.POST or request.FILES is read (see transfer_views).
    """

    def __init__(self, request: Any = None, *, fields: tuple[str, ...], max_bytes: int) -> None:
        super().__init__(request)
        self.fields = frozenset(fields)
        self.max_bytes = max_bytes
        self.too_large: set[str] = set()
        self.received: set[str] = set()
        self.buffer = io.BytesIO()

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name not in self.fields or field_name in self.received:
            raise SkipFile
        super().new_file(field_name, *args, **kwargs)
        self.received.add(field_name)
        self.buffer = io.BytesIO()
        raise StopFutureHandlers

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.max_bytes:
            self.too_large.add(self.field_name)
            self.buffer = io.BytesIO()
            raise SkipFile
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


# ---- Serving stored uploads -------------------------------------------------------------------

# The file view's URL names (license, letter, voucher) and BankTransfer's field names both work.
FILE_FIELDS = {
    "license": "business_license",
    "letter": "signed_letter",
    "voucher": "voucher",
    "business_license": "business_license",
    "signed_letter": "signed_letter",
}
DOWNLOAD_NAMES = {
    "business_license": "营业执照",
    "signed_letter": "业务授权书",
    "voucher": "转账凭证",
}
# Images can be sandboxed completely. PDFs cannot: Chrome and Safari refuse to run their PDF
# viewers in a sandboxed document and show a blank page. A PDF is served as application/pdf
# with nosniff (never interpreted as HTML), and uploads with scripts were refused.
IMAGE_CSP = "sandbox; default-src 'none'"
PDF_CSP = "default-src 'none'; frame-ancestors 'none'"


def transfer_file_response(transfer: Any, kind: str) -> Any:
    """One stored upload of a BankTransfer, for whoever the calling view has already allowed
    to see it: inline, with the content type of its stored extension (set from its content
    when it was cleaned), never sniffed, never cached, and sandboxed.

    `kind` is "license", "letter" or "voucher", or the field's name. Http404 when the kind is
    unknown, nothing is stored, or the file is gone.
    """
    from pathlib import PurePosixPath

    from django.http import FileResponse, Http404

    field_name = FILE_FIELDS.get(kind)
    stored = getattr(transfer, field_name) if field_name else None
    if not stored:
        raise Http404
    extension = PurePosixPath(stored.name).suffix.lower().lstrip(".")
    content_type = CONTENT_TYPES.get(extension)
    if content_type is None:
        raise Http404
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=False,
        filename=f"{DOWNLOAD_NAMES[field_name]}-{transfer.order.number}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = PDF_CSP if extension == "pdf" else IMAGE_CSP
    return response
