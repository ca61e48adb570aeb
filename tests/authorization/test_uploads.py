"""Uploaded documents are judged by their content: images are decoded and re-encoded, PDFs must
parse and carry no active content, everything else is refused with a message in Chinese."""

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfWriter

from authorization.uploads import (
    EMPTY_MESSAGE,
    IMAGE_TOO_LARGE_MESSAGE,
    IMAGE_UNREADABLE_MESSAGE,
    PDF_ACTIVE_CONTENT_MESSAGE,
    PDF_ENCRYPTED_MESSAGE,
    PDF_UNREADABLE_MESSAGE,
    UNSUPPORTED_MESSAGE,
    CleanFile,
    UploadRejected,
    clean_upload,
)

MAX = 10 * 1024 * 1024
PAYLOAD = b"<script>alert(document.cookie)</script>"


def upload(content: bytes, name: str = "file.bin", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def jpeg(size=(640, 480), *, exif: Image.Exif | None = None, colour=(200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", exif=exif or Image.Exif())
    return buffer.getvalue()


def png(size=(320, 200), mode="RGBA", **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (10, 80, 200, 128) if mode == "RGBA" else 90).save(
        buffer, "PNG", **params
    )
    return buffer.getvalue()


def pdf(*, catalog: bytes = b"", page: bytes = b"", extra: list[bytes] | None = None) -> bytes:
    """A minimal, well-formed PDF with one page; `catalog` and `page` go into those
    dictionaries, `extra` objects are numbered from 4."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] " + page + b" >>",
        *(extra or []),
    ]
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return out


def pdf_with_object_stream(obj: bytes, *, padding: int = 0) -> bytes:
    """A PDF 1.5+ whose object 4 (reached from the catalog) sits compressed in an object
    stream, found through a cross-reference stream: how most PDF writers store objects now."""
    header = b"4 0 "
    packed = zlib.compress(header + obj + b" " * padding, 9)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R /Extra 4 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        5: b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (len(header), len(packed))
        + packed
        + b"\nendstream",
    }
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets[6] = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 1, offsets[number], 0) for number in (1, 2, 3)]
    rows += [struct.pack(">BIH", 2, 5, 0)]  # object 4: in object stream 5, at index 0
    rows += [struct.pack(">BIH", 1, offsets[number], 0) for number in (5, 6)]
    xref = b"".join(rows)
    out += b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % (
        len(xref)
    )
    out += xref + b"\nendstream\nendobj\n"
    return out + b"startxref\n%d\n%%%%EOF\n" % offsets[6]


def refused(content: bytes, *, max_bytes: int = MAX, **kwargs) -> str:
    with pytest.raises(UploadRejected) as caught:
        clean_upload(upload(content, **kwargs), max_bytes=max_bytes)
    return caught.value.message


def decoded(clean: CleanFile) -> Image.Image:
    image = Image.open(io.BytesIO(clean.content))
    image.load()
    return image


# ---- Images -------------------------------------------------------------------------------


def test_a_jpeg_is_accepted_and_re_encoded_without_its_exif():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (23.0, 7.0, 30.0)}  # GPS latitude: where the photo was taken
    original = jpeg(exif=exif)
    assert b"PhoneMaker" in original

    clean = clean_upload(upload(original, name="执照.jpg"), max_bytes=MAX)

    assert (clean.extension, clean.content_type) == ("jpg", "image/jpeg")
    assert clean.content != original
    assert b"PhoneMaker" not in clean.content
    assert b"Exif" not in clean.content
    image = decoded(clean)
    assert image.format == "JPEG"
    assert image.size == (640, 480)
    assert not image.getexif()


def test_a_jpegs_comment_and_colour_profile_are_dropped():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "JPEG", comment=b"made-by-x", icc_profile=b"P" * 600)

    clean = clean_upload(upload(buffer.getvalue()), max_bytes=MAX)

    assert b"made-by-x" not in clean.content
    assert "icc_profile" not in decoded(clean).info


def test_a_jpeg_is_turned_upright_as_the_phone_showed_it_before_its_exif_is_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display

    clean = clean_upload(upload(jpeg((640, 480), exif=exif)), max_bytes=MAX)

    assert decoded(clean).size == (480, 640)


def test_a_png_is_accepted_and_re_encoded_without_its_text_chunks():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "secret note")
    original = png(pnginfo=info)

    clean = clean_upload(upload(original, name="licence.png"), max_bytes=MAX)

    assert (clean.extension, clean.content_type) == ("png", "image/png")
    assert b"secret note" not in clean.content
    image = decoded(clean)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (320, 200))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "I;16", "RGB"])
def test_pngs_of_every_common_mode_are_re_encoded(mode):
    buffer = io.BytesIO()
    Image.new(mode, (64, 48)).save(buffer, "PNG")

    clean = clean_upload(upload(buffer.getvalue()), max_bytes=MAX)

    assert decoded(clean).mode in {"1", "L", "LA", "RGB", "RGBA"}


def test_a_very_large_photo_is_scaled_to_a_readable_size():
    clean = clean_upload(upload(jpeg((6000, 3000))), max_bytes=MAX)

    assert max(decoded(clean).size) == 4096


def test_a_png_renamed_pdf_is_recognised_as_a_png():
    clean = clean_upload(
        upload(png(), name="scan.pdf", content_type="application/pdf"), max_bytes=MAX
    )

    assert clean.extension == "png"
    assert clean.storage_name().endswith(".png")


def test_html_named_jpg_is_refused():
    html = b"<!doctype html><html><body>" + PAYLOAD + b"</body></html>"

    assert refused(html, name="photo.jpg", content_type="image/jpeg") == UNSUPPORTED_MESSAGE


def test_html_behind_jpeg_magic_bytes_is_refused_as_unreadable():
    assert refused(b"\xff\xd8\xff\xe0" + PAYLOAD * 10) == IMAGE_UNREADABLE_MESSAGE


def test_a_valid_jpeg_with_html_appended_is_stored_without_the_html():
    polyglot = jpeg() + b"<html><body>" + PAYLOAD + b"</body></html>"

    clean = clean_upload(upload(polyglot, name="x.jpg"), max_bytes=MAX)

    assert b"<script" not in clean.content
    assert b"<html" not in clean.content
    assert decoded(clean).size == (640, 480)


def test_a_png_with_a_script_in_a_text_chunk_is_stored_without_it():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Description", PAYLOAD.decode())

    clean = clean_upload(upload(png(pnginfo=info)), max_bytes=MAX)

    assert b"<script" not in clean.content


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named():
    big = jpeg() + b"\0" * 2048

    assert refused(big, max_bytes=1024) == "文件不能超过 1KB"
    assert refused(b"x" * (MAX + 1)) == "文件不能超过 10MB"


def test_a_zero_byte_file_is_refused():
    assert refused(b"") == EMPTY_MESSAGE


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width × height (a decompression bomb's first step)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    data = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (20000, 20000, IMAGE_UNREADABLE_MESSAGE),  # over Pillow's own limit: its error
        (8000, 5000, IMAGE_TOO_LARGE_MESSAGE),  # under Pillow's, over ours
    ],
)
def test_a_decompression_bomb_is_refused_before_it_is_decoded(width, height, message):
    bomb = png_declaring(width, height)
    assert len(bomb) < 200

    assert refused(bomb) == message


def test_a_truncated_image_is_refused():
    whole = jpeg((800, 600))

    assert refused(whole[: len(whole) // 2]) == IMAGE_UNREADABLE_MESSAGE
    assert refused(png()[:-20]) == IMAGE_UNREADABLE_MESSAGE


def test_other_image_formats_are_refused():
    for fmt in ["GIF", "BMP", "WEBP", "TIFF"]:
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20)).save(buffer, fmt)
        assert refused(buffer.getvalue()) == UNSUPPORTED_MESSAGE, fmt
    assert refused(b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>') == (
        UNSUPPORTED_MESSAGE
    )


# ---- PDFs ---------------------------------------------------------------------------------


def test_a_pdf_is_accepted_with_its_bytes_unchanged():
    original = pdf()

    clean = clean_upload(upload(original, name="letter.jpg"), max_bytes=MAX)

    assert (clean.extension, clean.content_type) == ("pdf", "application/pdf")
    assert clean.content == original


def test_the_platforms_own_letter_pdf_is_accepted():
    from authorization.letter import Letter
    from invoices.pdf import render_authorization_letter_pdf

    letter = Letter(title="业务授权书", paragraphs=["测试：", "正文"], signature_lines=["日期："])

    clean = clean_upload(upload(render_authorization_letter_pdf(letter)), max_bytes=MAX)

    assert clean.extension == "pdf"


def test_a_pdf_that_opens_at_a_destination_is_accepted():
    clean = clean_upload(upload(pdf(catalog=b"/OpenAction [3 0 R /Fit]")), max_bytes=MAX)

    assert clean.extension == "pdf"


def test_a_pdf_with_a_link_annotation_is_accepted():
    link = (
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (https://a.cn) >> >>"
    )

    clean = clean_upload(upload(pdf(page=b"/Annots [4 0 R]", extra=[link])), max_bytes=MAX)

    assert clean.extension == "pdf"


STREAM = b"<< /Length 1 >>\nstream\nx\nendstream"
ACTIVE_PDFS = {
    # Document-level JavaScript in the name tree.
    "names-javascript": (
        b"/Names << /JavaScript 4 0 R >>",
        b"",
        [b"<< /Names [(a) << /S /JavaScript /JS (app.alert(1)) >>] >>"],
    ),
    # The same, with the name spelled with an escape.
    "escaped-name": (b"/Names << /Java#53cript 4 0 R >>", b"", [b"<< /Names [] >>"]),
    # Actions run on opening.
    "open-action-js": (b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>", b"", []),
    "open-action-uri": (
        b"/OpenAction 4 0 R",
        b"",
        [b"<< /Type /Action /S /URI /URI (https://evil.example) >>"],
    ),
    # Automatic actions on the document and on a page.
    "document-aa": (b"/AA << /WC << /S /Named /N /Print >> >>", b"", []),
    "page-aa": (b"", b"/AA << /O << /S /Named /N /NextPage >> >>", []),
    # Annotations that launch a program or run a script when clicked.
    "annotation-launch": (
        b"",
        b"/Annots [4 0 R]",
        [b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /Launch /F (cmd.exe) >> >>"],
    ),
    "annotation-js-indirect": (
        b"",
        b"/Annots [4 0 R]",
        [
            b"<< /Type /Annot /Subtype /Widget /Rect [0 0 9 9] /A 5 0 R >>",
            b"<< /S /JavaScript /JS 6 0 R >>",
            STREAM,
        ],
    ),
    # Embedded files: in the name tree, or as an attachment annotation.
    "embedded-file": (
        b"/Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >>",
        b"",
        [
            b"<< /Type /Filespec /F (a.exe) /EF << /F 5 0 R >> >>",
            b"<< /Type /EmbeddedFile /Length 1 >>\nstream\nx\nendstream",
        ],
    ),
    "file-attachment": (
        b"",
        b"/Annots [4 0 R]",
        [b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] >>"],
    ),
    # An XFA form, which carries scripts of its own.
    "xfa": (b"/AcroForm << /Fields [] /XFA 4 0 R >>", b"", [STREAM]),
}


@pytest.mark.parametrize(("catalog", "page", "extra"), ACTIVE_PDFS.values(), ids=ACTIVE_PDFS)
def test_a_pdf_with_active_content_is_refused(catalog, page, extra):
    assert refused(pdf(catalog=catalog, page=page, extra=extra)) == PDF_ACTIVE_CONTENT_MESSAGE


def test_objects_inside_compressed_object_streams_are_checked_too():
    assert clean_upload(upload(pdf_with_object_stream(b"<< /Producer (scanner) >>")), max_bytes=MAX)

    assert refused(pdf_with_object_stream(b"<< /S /JavaScript /JS (app.alert(1)) >>")) == (
        PDF_ACTIVE_CONTENT_MESSAGE
    )


def test_an_object_stream_that_inflates_like_a_bomb_is_refused():
    bomb = pdf_with_object_stream(b"<< /Producer (x) >>", padding=20_000_000)
    assert len(bomb) < 30_000

    assert refused(bomb) == PDF_UNREADABLE_MESSAGE


def test_an_encrypted_pdf_is_refused():
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)

    assert refused(buffer.getvalue()) == PDF_ENCRYPTED_MESSAGE


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n" + b"\x8f garbage that is not a PDF " * 40,
        b"%PDF-",
        b"%PDF-1.4\n<html><script>alert(1)</script></html>",
    ],
)
def test_garbage_after_the_pdf_header_is_refused(content):
    assert refused(content) == PDF_UNREADABLE_MESSAGE


def test_a_pdf_without_pages_is_refused():
    no_pages = pdf().replace(b"/Kids [3 0 R] /Count 1", b"/Kids [] /Count 0")

    assert refused(no_pages) in {PDF_UNREADABLE_MESSAGE, "PDF 文件没有内容页"}


def test_a_pdf_of_more_than_fifty_pages_is_refused():
    writer = PdfWriter()
    for _ in range(51):
        writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)

    assert refused(buffer.getvalue()) == "PDF 文件不能超过 50 页"


def test_the_storage_name_is_random_with_the_detected_extension():
    clean = clean_upload(upload(jpeg(), name="../../etc/passwd.html"), max_bytes=MAX)

    first, second = clean.storage_name(), clean.storage_name()
    assert first != second
    assert first.endswith(".jpg")
    assert len(first) == 32 + 4
    assert "passwd" not in first
