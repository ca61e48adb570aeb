"""实名认证 end to end: 姓名 + 身份证号 + a selfie → the face check → the identity bound to the
user once, shown masked from then on; failures keep what was typed; attempts are limited."""

import io
import logging
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.faceauth import (
    MISMATCH_MESSAGE,
    FaceCheckProvider,
    FaceCheckUnavailable,
    SandboxFaceCheckProvider,
)
from accounts.models import Identity, User
from accounts.selectors import identity_for
from accounts.services import IdentityAlreadyVerified, identity_verify
from tests.accounts.test_identity import make_id
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("accounts:identity")
ID_NUMBER = make_id("440106", "19900101", "001")
FAILING_ID = make_id("110101", "19900307", "123")
NAME = "张三"


class RecordingProvider(FaceCheckProvider):
    """The sandbox, remembering every request it was asked."""

    sandbox = True
    name = "recording"
    requests: ClassVar[list] = []
    unavailable: ClassVar[bool] = False

    def check(self, request):
        self.requests.append(request)
        if self.unavailable:
            raise FaceCheckUnavailable("gateway down")
        return SandboxFaceCheckProvider().check(request)


@pytest.fixture(autouse=True)
def provider(settings):
    settings.YQ_FACE_PROVIDER = f"{__name__}.RecordingProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [FAILING_ID]
    RecordingProvider.requests = []
    RecordingProvider.unavailable = False
    return RecordingProvider


@pytest.fixture
def applicant(client):
    user = UserFactory()
    client.force_login(user)
    return user


def jpeg(size=(480, 640), noise=False) -> bytes:
    image = (
        Image.effect_noise(size, 80).convert("RGB")
        if noise
        else Image.new("RGB", size, (222, 190, 160))
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def submit(
    client,
    *,
    real_name=NAME,
    id_number=ID_NUMBER,
    selfie: bytes | None = None,
    filename="selfie.jpg",
    next_url="/orders/",
    **extra,
):
    data = {"real_name": real_name, "id_number": id_number, "next": next_url}
    if selfie is not False:
        data["selfie"] = SimpleUploadedFile(
            filename, jpeg() if selfie is None else selfie, "image/jpeg"
        )
    return client.post(URL, data, **extra)


# --- the page -------------------------------------------------------------------------------


def test_the_page_needs_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_form_asks_for_name_id_number_and_a_front_camera_photo(client, applicant):
    body = client.get(URL, {"next": "/orders/"}).content.decode()

    assert 'enctype="multipart/form-data"' in body
    assert '<label for="id_real_name">姓名</label>' in body
    assert '<label for="id_id_number">身份证号</label>' in body
    assert 'for="id_selfie"' in body
    assert "拍摄人脸照片" in body
    assert 'type="file" name="selfie"' in body
    assert 'accept="image/*"' in body
    assert 'capture="user"' in body
    assert "开始核验" in body
    for step in ["填写身份信息", "人脸识别核验", "完成"]:
        assert step in body
    assert 'name="next" value="/orders/"' in body


def test_a_post_without_the_csrf_token_is_refused(applicant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(applicant)

    response = submit(client)

    assert response.status_code == 403
    assert not Identity.objects.exists()


# --- success --------------------------------------------------------------------------------


def test_a_valid_submission_binds_the_identity_and_goes_to_next(client, applicant, provider):
    response = submit(client, real_name=" 张 三 ", id_number=ID_NUMBER.lower() + " ")

    assert response.status_code == 302
    assert response["Location"] == "/orders/"
    identity = Identity.objects.get(user=applicant)
    assert identity.real_name == NAME
    assert identity.id_number == ID_NUMBER
    assert identity.provider == "recording"
    assert identity.provider_ref.startswith("SBX-")
    assert identity.verified_at is not None
    (request,) = provider.requests
    assert request.content_type == "image/jpeg"
    assert "实名认证成功" in client.get("/orders/").content.decode()


def test_an_outside_next_goes_home_instead(client, applicant):
    response = submit(client, next_url="https://evil.example/")

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_the_provider_gets_the_photo_as_uploaded_even_when_large(client, applicant, provider):
    # Bigger than FILE_UPLOAD_MAX_MEMORY_SIZE, so Django would otherwise spool it to disk.
    selfie = jpeg((1800, 1800), noise=True)
    assert len(selfie) > 2 * 1024 * 1024

    submit(client, selfie=selfie)

    assert provider.requests[0].selfie == selfie


def test_htmx_posts_swap_the_form_and_redirect_the_client_on_success(client, applicant):
    failed = submit(client, real_name="张3", headers={"HX-Request": "true"})
    assert failed.status_code == 200
    assert failed.content.decode().lstrip().startswith("<form")

    passed = submit(client, headers={"HX-Request": "true"})

    assert passed["HX-Redirect"] == "/orders/"
    assert Identity.objects.filter(user=applicant).exists()


# --- what the user typed --------------------------------------------------------------------


def test_a_bad_name_is_refused_and_what_was_typed_is_kept(client, applicant, provider):
    response = submit(client, real_name="张3")

    body = response.content.decode()
    assert response.status_code == 400
    assert "姓名只能包含汉字和间隔号“·”" in body
    assert 'value="张3"' in body
    assert f'value="{ID_NUMBER}"' in body
    assert "请重新拍摄" in body
    assert not provider.requests
    assert not Identity.objects.exists()


def test_a_wrong_check_digit_is_refused(client, applicant, provider):
    wrong = ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")

    response = submit(client, id_number=wrong)

    body = response.content.decode()
    assert response.status_code == 400
    assert "身份证号校验位不正确，请核对" in body
    assert f'value="{wrong}"' in body
    assert f'value="{NAME}"' in body
    assert not provider.requests


@time_machine.travel(datetime(2026, 5, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
def test_someone_under_18_is_refused(client, applicant, provider):
    minor = make_id("440106", "20080521", "001")  # 18 tomorrow

    response = submit(client, id_number=minor)

    assert response.status_code == 400
    assert "未满18周岁不能办理" in response.content.decode()
    assert not provider.requests


@time_machine.travel(datetime(2026, 5, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
def test_an_18th_birthday_is_old_enough(client, applicant):
    response = submit(client, id_number=make_id("440106", "20080520", "001"))

    assert response.status_code == 302


def test_a_missing_photo_is_asked_for(client, applicant, provider):
    response = submit(client, selfie=False)

    assert response.status_code == 400
    assert "请拍摄人脸照片" in response.content.decode()
    assert not provider.requests


def test_a_file_that_is_not_a_photo_is_refused_whatever_its_name(client, applicant, provider):
    html = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"

    response = submit(client, selfie=html, filename="selfie.jpg")

    assert response.status_code == 400
    assert "照片无法识别，请正对镜头重新拍摄" in response.content.decode()
    assert not provider.requests


def test_an_oversized_photo_is_refused(client, applicant, provider, settings):
    settings.YQ_SELFIE_MAX_BYTES = 64 * 1024
    selfie = jpeg((600, 600), noise=True)
    assert len(selfie) > 64 * 1024

    response = submit(client, selfie=selfie)

    body = response.content.decode()
    assert response.status_code == 400
    assert "照片不能超过 64KB" in body
    assert f'value="{ID_NUMBER}"' in body
    assert not provider.requests


def test_the_default_limit_is_8mb(client, applicant, provider):
    response = submit(client, selfie=b"\xff\xd8\xff" + b"\0" * (8 * 1024 * 1024))

    assert "照片不能超过 8MB" in response.content.decode()
    assert not provider.requests


# --- the face check -------------------------------------------------------------------------


def test_a_listed_id_fails_with_the_providers_message_and_binds_nothing(client, applicant):
    response = submit(client, id_number=FAILING_ID)

    body = response.content.decode()
    assert response.status_code == 400
    assert MISMATCH_MESSAGE in body
    assert f'value="{FAILING_ID}"' in body
    assert f'value="{NAME}"' in body
    assert "请重新拍摄" in body
    assert not Identity.objects.exists()


def test_a_failure_is_logged_with_the_masked_number_only(client, applicant, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        submit(client, id_number=FAILING_ID)

    (record,) = [r for r in caplog.records if r.name == "accounts.services"]
    text = record.getMessage()
    assert f"user={applicant.pk}" in text
    assert f"{FAILING_ID[:4]}**********{FAILING_ID[-4:]}" in text
    assert FAILING_ID not in text


def test_an_unavailable_provider_asks_to_try_later_and_binds_nothing(client, applicant, provider):
    provider.unavailable = True

    response = submit(client)

    assert response.status_code == 400
    assert "人脸识别服务暂时不可用，请稍后再试" in response.content.decode()
    assert not Identity.objects.exists()


# --- bound once -----------------------------------------------------------------------------


@pytest.fixture
def verified(applicant):
    return Identity.objects.create(
        user=applicant,
        real_name=NAME,
        id_number=ID_NUMBER,
        verified_at=datetime(2026, 5, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        provider="sandbox",
        provider_ref="SBX-1",
    )


def test_the_verified_page_shows_the_id_number_masked(client, verified):
    response = client.get(URL, {"next": "/orders/"})

    body = response.content.decode()
    assert "已实名认证" in body
    assert NAME in body
    assert "4401**********" + ID_NUMBER[-4:] in body
    assert ID_NUMBER not in body
    assert ID_NUMBER[:14] not in body
    assert 'href="/orders/"' in body
    assert 'name="selfie"' not in body


def test_a_verified_user_cannot_verify_again(client, verified, provider):
    other = make_id("310115", "19850312", "003")

    response = submit(client, real_name="李四", id_number=other)

    assert response.status_code == 302
    assert response["Location"].startswith(URL)
    verified.refresh_from_db()
    assert (verified.real_name, verified.id_number) == (NAME, ID_NUMBER)
    assert Identity.objects.count() == 1
    assert not provider.requests


def test_the_service_refuses_a_second_binding(verified, provider):
    with pytest.raises(IdentityAlreadyVerified):
        identity_verify(
            user=verified.user,
            real_name="李四",
            id_number=make_id("310115", "19850312", "003"),
            selfie=jpeg(),
            content_type="image/jpeg",
            ip="127.0.0.1",
        )

    assert not provider.requests


def test_an_id_number_verified_by_another_account_is_refused(client, verified, provider):
    someone_else = UserFactory()
    client.force_login(someone_else)

    response = submit(client)

    assert response.status_code == 409
    assert "该身份证号已被其他账号认证，请联系客服" in response.content.decode()
    assert not Identity.objects.filter(user=someone_else).exists()
    assert not provider.requests


# --- attempts are limited -------------------------------------------------------------------


def test_attempts_are_limited_per_user(client, applicant, provider, settings):
    limit, _ = settings.YQ_RATE_LIMITS["face_check_user"]
    for _ in range(limit):
        assert submit(client, id_number=FAILING_ID).status_code == 400

    response = submit(client)

    assert response.status_code == 429
    assert "操作过于频繁" in response.content.decode()
    assert len(provider.requests) == limit
    assert not Identity.objects.exists()


def test_attempts_are_limited_per_ip(client, provider, settings):
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "face_check_ip": (2, 3600)}
    for _ in range(2):
        client.force_login(UserFactory())
        submit(client, id_number=FAILING_ID)
    client.force_login(UserFactory())

    response = submit(client)

    assert response.status_code == 429
    assert len(provider.requests) == 2


# --- reads and the admin --------------------------------------------------------------------


def test_identity_for_is_none_until_verified(applicant):
    assert identity_for(AnonymousUser()) is None
    assert identity_for(applicant) is None


def test_identity_for_returns_the_bound_identity(verified):
    assert identity_for(verified.user) == verified


@pytest.fixture
def operator():
    return User.objects.create_superuser("13900000000", "a-long-operator-password")


def test_the_admin_lists_identities_with_the_number_masked(client, verified, operator):
    client.force_login(operator)

    body = client.get(reverse("admin:accounts_identity_changelist")).content.decode()

    assert verified.user.phone in body
    assert NAME in body
    assert verified.id_number_masked in body
    assert ID_NUMBER not in body


def test_the_admin_detail_is_read_only_and_masked(client, verified, operator):
    client.force_login(operator)

    response = client.get(reverse("admin:accounts_identity_change", args=[verified.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert verified.id_number_masked in body
    assert ID_NUMBER not in body
    assert 'name="real_name"' not in body
    assert client.get(reverse("admin:accounts_identity_add")).status_code == 403


def test_the_admin_finds_an_identity_by_phone(client, verified, operator):
    client.force_login(operator)

    body = client.get(
        reverse("admin:accounts_identity_changelist"), {"q": verified.user.phone}
    ).content.decode()

    assert verified.id_number_masked in body
