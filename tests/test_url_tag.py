"""The site's {% url %} and {% static %}: Django's tags, remembered, giving the same answers."""

import json
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.template import Template, TemplateSyntaxError, engines
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from yueqiqian.templatetags import yq


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_the_site_url_tag_is_the_remembered_one():
    template = engines["django"].from_string("{% url 'home' %}")
    nodes = template.template.nodelist

    assert isinstance(nodes[0], yq.RememberedURLNode)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% url 'home' %}", reverse("home")),
        ("{% url 'orders:detail' number %}", reverse("orders:detail", args=["YQ123"])),
        ("{% url 'orders:detail' number=number %}", reverse("orders:detail", args=["YQ123"])),
        (
            "{% url 'certificates:seal' 7 'official' %}",
            reverse("certificates:seal", args=[7, "official"]),
        ),
        (
            "{% url 'orders:detail' number as u %}[{{ u }}]",
            f"[{reverse('orders:detail', args=['YQ123'])}]",
        ),
        ("{% url 'nope' as u %}[{{ u }}]", "[]"),
    ],
)
def test_it_gives_what_django_gives(source, expected):
    assert render(source, number="YQ123") == expected


def test_each_argument_gets_its_own_url():
    source = "{% for n in numbers %}{% url 'orders:detail' n %} {% endfor %}"

    out = render(source, numbers=["A1", "B2", "A1"]).split()

    assert out == [reverse("orders:detail", args=[n]) for n in ["A1", "B2", "A1"]]


def test_a_missing_view_still_fails_loudly():
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-view' %}")
    with pytest.raises(TemplateSyntaxError):
        Template("{% url %}")


def test_an_argument_that_is_not_str_or_int_goes_through_djangos_own_path():
    class Number:
        def __str__(self) -> str:
            return "YQ999"

    yq._reverse.cache_clear()

    out = render("{% url 'orders:detail' n %}", n=Number())

    assert out == reverse("orders:detail", args=["YQ999"])
    assert yq._reverse.cache_info().currsize == 0


def test_the_script_prefix_is_part_of_what_is_remembered():
    from django.urls import set_script_prefix

    plain = render("{% url 'home' %}")
    set_script_prefix("/sub/")
    try:
        prefixed = render("{% url 'home' %}")
    finally:
        set_script_prefix("/")

    assert (plain, prefixed) == ("/", "/sub/")


def test_true_is_not_taken_for_1():
    one = render("{% url 'certificates:detail' n %}", n=1)

    with pytest.raises(NoReverseMatch):
        render("{% url 'certificates:detail' n %}", n=True)
    assert one == reverse("certificates:detail", args=[1])


# ---- {% static %} --------------------------------------------------------------------------------


def test_the_site_static_tag_is_the_remembered_one_and_no_template_loads_djangos():
    nodes = engines["django"].from_string("{% static 'css/app.css' %}").template.nodelist
    assert isinstance(nodes[0], yq.RememberedStaticNode)
    templates = Path(settings.BASE_DIR, "templates")
    loading = [p.name for p in templates.rglob("*.html") if "{% load static %}" in p.read_text()]
    assert loading == []


@pytest.mark.parametrize(
    "storage",
    [
        "django.contrib.staticfiles.storage.StaticFilesStorage",
        "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    ],
)
def test_static_gives_what_django_gives_and_asks_the_storage_once(settings, storage, tmp_path):
    paths = {"css/app.css": "css/app.0123abcd.css", "a b/ü.js": "a b/ü.4567cdef.js"}
    (tmp_path / "staticfiles.json").write_text(json.dumps({"version": "1.1", "paths": paths}))
    settings.STATIC_ROOT = tmp_path
    settings.DEBUG = False
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": storage}}
    source = "{% static 'css/app.css' %} {% static path %} {% static 'css/app.css' as u %}[{{ u }}]"
    expected = f"{static('css/app.css')} {static('a b/ü.js')} [{static('css/app.css')}]"
    assert ("0123abcd" in expected) is storage.endswith("ManifestStaticFilesStorage")

    handle_simple = yq.StaticNode.handle_simple
    with mock.patch.object(yq.StaticNode, "handle_simple", wraps=handle_simple) as asked:
        assert render(source, path="a b/ü.js") == expected
        assert render(source, path="a b/ü.js") == expected
    assert asked.call_count == 2  # once per path, not per use


def test_a_path_the_manifest_lacks_raises_as_in_django(settings, tmp_path):
    (tmp_path / "staticfiles.json").write_text(json.dumps({"version": "1.1", "paths": {}}))
    settings.STATIC_ROOT = tmp_path
    settings.DEBUG = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            render("{% static 'nope.css' %}")
