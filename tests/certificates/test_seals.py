"""The seal images: a round 机构公章 and a square 法定代表人章, red on transparent PNG."""

import io
import math
import re
import subprocess

import pytest
from PIL import Image, ImageChops

from certificates import seals
from certificates.seals import (
    SealFontMissing,
    cjk_font_path,
    draw_legal_rep_seal,
    draw_official_seal,
)

FORTY_CHARACTERS = (
    "广东省广州市天河区珠江新城花城大道示例智慧城市数字科技研究院股份有限公司第一分部"
)


@pytest.fixture(autouse=True)
def _fresh_font_lookup():
    """The font lookup is cached per process; tests that fake the machine's fonts start clean."""
    cjk_font_path.cache_clear()
    yield
    cjk_font_path.cache_clear()


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def opaque(pixel: tuple[int, int, int, int]) -> bool:
    return pixel[3] >= 200


def red(pixel: tuple[int, int, int, int]) -> bool:
    r, g, b, _ = pixel
    return r >= 180 and g <= 60 and b <= 80


def opaque_pixels(image: Image.Image) -> list[tuple[int, int, int, int]]:
    return [p for p in image.get_flattened_data() if opaque(p)]


def transparent(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return image.crop(box).getchannel("A").getextrema() == (0, 0)


def test_official_seal_is_a_400_pixel_rgba_png():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    assert image.mode == "RGBA"
    assert image.size == (400, 400)


def test_official_seal_is_drawn_at_the_size_asked_for():
    assert decode(draw_official_seal("广州市示例科技有限公司", size=200)).size == (200, 200)


def test_official_seal_has_transparent_corners_outside_the_ring():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    for box in [(0, 0, 40, 40), (360, 0, 400, 40), (0, 360, 40, 400), (360, 360, 400, 400)]:
        assert transparent(image, box), box


def test_official_seal_ink_is_red_and_covers_a_seal_like_share_of_the_image():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    ink = opaque_pixels(image)

    assert all(red(p) for p in ink)
    assert 0.08 < len(ink) / (400 * 400) < 0.5


def test_official_seal_has_an_unbroken_outer_ring():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    # The ring's stroke lies between radius 182 and 194 at 400 px.
    for degrees in range(0, 360, 5):
        angle = math.radians(degrees)
        pixel = image.getpixel((200 + 191 * math.cos(angle), 200 + 191 * math.sin(angle)))
        assert opaque(pixel), degrees
        assert red(pixel), degrees


def test_official_seal_has_a_star_in_the_centre():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    centre = image.crop((188, 188, 212, 212))
    assert all(opaque(p) and red(p) for p in centre.get_flattened_data())
    # The star's top point, and the notches between its points, which a disc would not have.
    assert opaque(image.getpixel((200, 150)))
    assert not opaque(image.getpixel((200, 240)))


def test_official_seal_carries_the_footer_line_below_the_star():
    image = decode(draw_official_seal("广州市示例科技有限公司"))

    footer_band = image.crop((120, 295, 280, 320))
    assert footer_band.getchannel("A").getextrema()[1] == 255


def test_official_seal_draws_the_name_on_the_upper_arc():
    a = decode(draw_official_seal("广州市示例科技有限公司"))
    b = decode(draw_official_seal("深圳样例贸易集团"))

    left, top, right, bottom = ImageChops.difference(a.getchannel("A"), b.getchannel("A")).getbbox()

    # The names differ; the ring, star and footer do not.
    assert top < 40
    assert bottom < 290
    assert left < 60
    assert right > 340
    assert (
        ImageChops.difference(a.crop((120, 120, 280, 330)), b.crop((120, 120, 280, 330))).getbbox()
        is None
    )


@pytest.mark.parametrize("name", ["华为", "某某公司", "广州市示例科技有限公司", FORTY_CHARACTERS])
def test_official_seal_keeps_names_of_any_length_inside_the_ring_and_off_the_bottom(name):
    image = decode(draw_official_seal(name))

    outside_ring = [
        p
        for index, p in enumerate(image.get_flattened_data())
        if math.hypot(index % 400 - 199.5, index // 400 - 199.5) > 200
    ]
    assert not any(opaque(p) for p in outside_ring)
    # Between the footer and the bottom of the ring there is nothing: the name stays on the
    # upper arc however long it is.
    assert transparent(image, (150, 325, 250, 375))


def ink_bearings(image: Image.Image, *, inner: float, outer: float) -> set[int]:
    """Whole degrees, clockwise from 12 o'clock (-180..179), with ink between two radii."""
    width = image.width
    centre = (width - 1) / 2
    bearings = set()
    for index, pixel in enumerate(image.get_flattened_data()):
        dx, dy = index % width - centre, index // width - centre
        if opaque(pixel) and inner <= math.hypot(dx, dy) <= outer:
            bearings.add(math.floor(math.degrees(math.atan2(dx, -dy))))
    return bearings


def test_a_forty_character_name_spreads_over_the_upper_arc_and_no_further():
    image = decode(draw_official_seal(FORTY_CHARACTERS))

    # The name's band lies inside the ring (radius 182 at 400 px) and outside the footer.
    bearings = ink_bearings(image, inner=150, outer=178)

    assert all(
        any(b in bearings for b in range(start, start + 10)) for start in range(-110, 110, 10)
    )
    assert not any(abs(b) > 125 for b in bearings)


def test_official_seal_refuses_an_empty_name():
    with pytest.raises(ValueError, match="empty"):
        draw_official_seal("  ")


def test_legal_rep_seal_is_a_240_pixel_rgba_png():
    image = decode(draw_legal_rep_seal("张三丰"))

    assert image.mode == "RGBA"
    assert image.size == (240, 240)


def test_legal_rep_seal_has_a_square_red_border_to_the_edges():
    image = decode(draw_legal_rep_seal("张三丰"))

    edges = [
        image.crop((0, 0, 240, 3)),
        image.crop((0, 237, 240, 240)),
        image.crop((0, 0, 3, 240)),
        image.crop((237, 0, 240, 240)),
    ]
    for edge in edges:
        assert all(opaque(p) and red(p) for p in edge.get_flattened_data())


def test_legal_rep_seal_leaves_space_between_border_and_characters():
    image = decode(draw_legal_rep_seal("张三丰"))

    # A thin transparent band just inside the border, along the top.
    assert transparent(image, (20, 16, 220, 19))


def test_legal_rep_seal_ink_is_red():
    ink = opaque_pixels(decode(draw_legal_rep_seal("李四")))

    assert all(red(p) for p in ink)
    assert len(ink) > 0.3 * 240 * 240


def test_a_two_character_name_becomes_name_zhi_yin():
    assert draw_legal_rep_seal("李四") == draw_legal_rep_seal("李四之印")


def test_a_three_character_name_gains_yin_to_fill_the_grid():
    assert draw_legal_rep_seal("张三丰") == draw_legal_rep_seal("张三丰印")


@pytest.mark.parametrize(
    ("changed", "quadrant"),
    [
        ("王三丰印", "top right"),
        ("张四丰印", "bottom right"),
        ("张三李印", "top left"),
        ("张三丰章", "bottom left"),
    ],
)
def test_legal_rep_seal_reads_top_down_in_columns_from_the_right(changed, quadrant):
    a = decode(draw_legal_rep_seal("张三丰印")).getchannel("A")
    b = decode(draw_legal_rep_seal(changed)).getchannel("A")

    left, top, right, bottom = ImageChops.difference(a, b).getbbox()

    horizontal = "right" if left >= 120 else "left" if right <= 120 else "both"
    vertical = "bottom" if top >= 120 else "top" if bottom <= 120 else "both"
    assert f"{vertical} {horizontal}" == quadrant


def test_legal_rep_seal_refuses_an_empty_name():
    with pytest.raises(ValueError, match="empty"):
        draw_legal_rep_seal("")


def no_fonts_anywhere(monkeypatch, settings):
    settings.YQ_CJK_FONT = None
    monkeypatch.setattr(seals, "_fc_list_fonts", list)
    monkeypatch.setattr(seals, "KNOWN_FONT_PATHS", ("/nonexistent/wqy-zenhei.ttc",))


@pytest.mark.parametrize("draw", [draw_official_seal, draw_legal_rep_seal])
def test_without_a_cjk_font_drawing_says_how_to_install_one(monkeypatch, settings, draw):
    no_fonts_anywhere(monkeypatch, settings)

    with pytest.raises(SealFontMissing) as raised:
        draw("广州市示例科技有限公司")

    assert "scripts/system-deps.sh" in str(raised.value)
    assert "apt-get install fonts-wqy-zenhei" in str(raised.value)


def test_the_yq_cjk_font_setting_wins_over_fontconfig(monkeypatch, settings, tmp_path):
    configured = tmp_path / "seal-font.ttc"
    configured.symlink_to(cjk_font_path())
    cjk_font_path.cache_clear()
    settings.YQ_CJK_FONT = str(configured)

    assert cjk_font_path() == str(configured)
    assert decode(draw_official_seal("广州市示例科技有限公司")).size == (400, 400)


def test_a_yq_cjk_font_setting_naming_a_missing_file_is_reported(settings):
    settings.YQ_CJK_FONT = "/nonexistent/font.ttc"

    with pytest.raises(SealFontMissing, match=re.escape("/nonexistent/font.ttc")):
        cjk_font_path()


def test_fontconfig_is_asked_before_the_known_paths(monkeypatch, settings, tmp_path):
    found = tmp_path / "fontconfig-font.ttc"
    found.write_bytes(b"")
    settings.YQ_CJK_FONT = None
    monkeypatch.setattr(seals, "_fc_list_fonts", lambda: [str(tmp_path / "gone.ttc"), str(found)])

    assert cjk_font_path() == str(found)


def test_the_known_paths_are_the_last_resort(monkeypatch, settings, tmp_path):
    font = tmp_path / "wqy-zenhei.ttc"
    font.write_bytes(b"")
    no_fonts_anywhere(monkeypatch, settings)
    monkeypatch.setattr(seals, "KNOWN_FONT_PATHS", ("/nonexistent/a.ttc", str(font)))

    assert cjk_font_path() == str(font)


def test_the_font_is_looked_up_once_per_process(monkeypatch, settings):
    settings.YQ_CJK_FONT = None
    calls = []
    real = seals._fc_list_fonts
    monkeypatch.setattr(seals, "_fc_list_fonts", lambda: calls.append(1) or real())

    draw_official_seal("广州市示例科技有限公司")
    draw_legal_rep_seal("张三丰")

    assert len(calls) == 1


def test_fontconfig_output_is_read_as_sorted_file_paths(monkeypatch):
    monkeypatch.setattr(seals.shutil, "which", lambda _name: "/usr/bin/fc-list")
    listing = "/usr/share/fonts/b/zenhei.ttc: \n/usr/share/fonts/a/noto.ttc: \n"
    monkeypatch.setattr(
        seals.subprocess,
        "run",
        lambda *args, **kwargs: subprocess.CompletedProcess(args, 0, stdout=listing, stderr=""),
    )

    assert seals._fc_list_fonts() == [
        "/usr/share/fonts/a/noto.ttc",
        "/usr/share/fonts/b/zenhei.ttc",
    ]


def test_without_fontconfig_no_fonts_are_listed(monkeypatch):
    monkeypatch.setattr(seals.shutil, "which", lambda _name: None)

    assert seals._fc_list_fonts() == []


def test_a_name_longer_than_four_characters_gets_more_rows_inside_the_border():
    image = decode(draw_legal_rep_seal("阿卜杜拉买买提"))

    assert image.size == (240, 240)
    assert all(opaque(p) for p in image.crop((0, 0, 240, 3)).get_flattened_data())
    left, right = image.crop((20, 20, 120, 220)), image.crop((120, 20, 220, 220))
    assert left.getchannel("A").getextrema()[1] == 255
    assert right.getchannel("A").getextrema()[1] == 255
