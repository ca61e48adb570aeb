"""The enterprise's seal images: the round red 机构公章 and the square 法定代表人章.

Issuance draws them once per enterprise and stores them as transparent PNGs, which the signing
side stamps onto documents. Pure Pillow, no database.

A seal is one colour, so everything is drawn as a greyscale coverage mask at twice the final
size (Pillow's circles and polygons are not anti-aliased; the downscale smooths them) and then
becomes the alpha channel of a solid red image. That keeps a seal at a few milliseconds plus the
PNG encode (BASELINES.md: ~12 ms a seal).

A new machine has no CJK font. The font is found once per process: the YQ_CJK_FONT setting, then
fontconfig (`fc-list :lang=zh`), then the paths Debian's packages install to.
"""

import functools
import io
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

SEAL_RED = (217, 0, 27)
OFFICIAL_SEAL_FOOTER = "电子签章专用"
KNOWN_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
# Drawing at twice the size and scaling down anti-aliases the rings, borders and star.
SUPERSAMPLE = 2


class SealFontMissing(RuntimeError):
    """No font with Chinese characters is installed, so a seal cannot be drawn."""


def _fc_list_fonts() -> list[str]:
    """Font files fontconfig says cover Chinese, or none when fontconfig is not installed."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        # A fixed argument list with the resolved executable; no input reaches the command.
        result = subprocess.run(  # noqa: S603
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    # Each line is "<path>: "; sorted so that every process picks the same font.
    return sorted(line.split(":", 1)[0].strip() for line in result.stdout.splitlines() if line)


def _font_candidates() -> Iterator[str]:
    yield from _fc_list_fonts()
    yield from KNOWN_FONT_PATHS


@functools.cache
def cjk_font_path() -> str:
    """The font file seals are drawn with; looked up once per process."""
    configured = getattr(settings, "YQ_CJK_FONT", None)
    if configured:
        if not Path(configured).is_file():
            raise SealFontMissing(f"YQ_CJK_FONT 指向的字体文件不存在：{configured}")
        return configured
    for candidate in _font_candidates():
        if Path(candidate).is_file():
            return candidate
    raise SealFontMissing(
        "找不到中文字体，无法绘制印章。请运行 scripts/system-deps.sh，"
        "或 apt-get install fonts-wqy-zenhei，或在设置 YQ_CJK_FONT 中指定字体文件。"
        " (No CJK font found: run scripts/system-deps.sh or apt-get install fonts-wqy-zenhei.)"
    )


def _font(size: int) -> ImageFont.FreeTypeFont:
    return _load_font(cjk_font_path(), size)


@functools.lru_cache(maxsize=64)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # index=0: the first face of a .ttc collection (WenQuanYi Zen Hei, Noto Sans CJK SC).
    return ImageFont.truetype(path, size, index=0)


def _glyph(char: str, *, height: int, width: int) -> Image.Image:
    """One character as a coverage mask filling a width × height box.

    The character is drawn centred in its em square, so a short glyph such as 一 keeps its
    place instead of being stretched; then the square is scaled to the box, which is how seal
    carvers narrow characters to fit more of them.
    """
    em = max(height, 1)
    font = _font(em)
    mask = Image.new("L", (em, em), 0)
    draw = ImageDraw.Draw(mask)
    # Seal characters are bolder than body text.
    draw.text(
        (em / 2, em / 2),
        char,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=max(1, em // 40),
        stroke_fill=255,
    )
    if width != em:
        mask = mask.resize((max(width, 1), em), Image.Resampling.BILINEAR)
    return mask


def _to_png(mask: Image.Image, *, size: int) -> bytes:
    alpha = mask.resize((size, size), Image.Resampling.BOX)
    seal = Image.new("RGBA", (size, size), (*SEAL_RED, 0))
    seal.putalpha(alpha)
    out = io.BytesIO()
    # compress_level 1: measured on a 400 px seal, ~7 ms and ~40 kB against the default
    # level's ~13 ms and ~32 kB; a seal is small either way, and issuance waits on the encode.
    seal.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _star(*, cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _arc_layout(count: int, *, radius: float, size: float) -> tuple[int, int, float]:
    """Character height, width and the arc (radians) the enterprise name spans.

    Seal characters are narrower than they are tall. A short name is spread out over at least
    about 120°, as on a real seal; a longer one widens the arc up to 230° (beyond that the first
    and last characters would lie on their sides), then the characters get narrower and, past
    that, smaller, so a 40-character name still fits.
    """
    height = round(size * 0.15)
    width = round(height * 0.8)
    if count == 1:
        return height, width, 0.0
    max_span = math.radians(230)
    # Centre-to-centre distance along the arc, with a little air between characters.
    span = (count - 1) * width * 1.12 / radius
    if span <= max_span:
        short_name_span = min(math.radians(120), (count - 1) * width * 1.8 / radius)
        return height, width, max(span, short_name_span)
    width = round(max_span * radius / (count - 1) / 1.12)
    if width < height * 0.6:
        height = round(width / 0.6)
    return height, width, max_span


def draw_official_seal(enterprise_name: str, *, size: int = 400) -> bytes:
    """The round red 机构公章: ring, the name on the upper arc, a star, and a footer line."""
    name = enterprise_name.strip()
    if not name:
        raise ValueError("enterprise_name is empty")
    s = size * SUPERSAMPLE
    c = s / 2
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)

    ring_width = round(s * 0.03)
    margin = round(s * 0.015)
    draw.ellipse((margin, margin, s - margin, s - margin), outline=255, width=ring_width)

    ring_inside = c - margin - ring_width
    # Laid out on the radius the full-size characters would sit at; smaller characters then
    # move out to keep the same small gap to the ring.
    height, width, span = _arc_layout(len(name), radius=ring_inside - s * 0.095, size=s)
    text_radius = ring_inside - s * 0.02 - height / 2
    step = span / (len(name) - 1) if len(name) > 1 else 0.0
    for i, char in enumerate(name):
        # Angle clockwise from 12 o'clock; the name runs left to right over the top.
        theta = -span / 2 + i * step
        glyph = _glyph(char, height=height, width=width).rotate(
            -math.degrees(theta), resample=Image.Resampling.BILINEAR, expand=True
        )
        x = c + text_radius * math.sin(theta)
        y = c - text_radius * math.cos(theta)
        mask.paste(255, (round(x - glyph.width / 2), round(y - glyph.height / 2)), glyph)

    draw.polygon(_star(cx=c, cy=c, radius=s * 0.14), fill=255)

    footer_font = _font(round(s * 0.07))
    draw.text(
        (c, c + s * 0.27),
        OFFICIAL_SEAL_FOOTER,
        fill=255,
        font=footer_font,
        anchor="mm",
        stroke_width=1,
        stroke_fill=255,
    )
    return _to_png(mask, size=size)


def _legal_rep_characters(name: str) -> list[str]:
    """The characters of a personal seal in reading order (right column first, top down).

    Two characters become 某某之印 and three 某某某印, so the seal is a full 2 × 2 grid, as
    personal seals are traditionally carved.
    """
    chars = list(name)
    if len(chars) == 2:
        return [*chars, "之", "印"]
    if len(chars) in (1, 3):
        return [*chars, "印"]
    # Four characters fill the grid as they are; a longer name gets more rows.
    return chars


def draw_legal_rep_seal(name: str, *, size: int = 240) -> bytes:
    """The square red 法定代表人章: a border and the name in columns read right to left."""
    name = name.strip()
    if not name:
        raise ValueError("name is empty")
    s = size * SUPERSAMPLE
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)

    border = round(s * 0.06)
    draw.rectangle((0, 0, s - 1, s - 1), outline=255, width=border)

    chars = _legal_rep_characters(name)
    columns, rows = 2, math.ceil(len(chars) / 2)
    inner = s - 2 * border
    pad = round(s * 0.035)
    cell_w = (inner - 2 * pad) / columns
    cell_h = (inner - 2 * pad) / rows
    gap = round(s * 0.02)
    for index, char in enumerate(chars):
        column = columns - 1 - index // rows  # right to left
        row = index % rows
        glyph = _glyph(char, height=round(cell_h - gap), width=round(cell_w - gap))
        x = border + pad + column * cell_w + (cell_w - glyph.width) / 2
        y = border + pad + row * cell_h + (cell_h - glyph.height) / 2
        mask.paste(255, (round(x), round(y)), glyph)
    return _to_png(mask, size=size)
