"""WeChat Pay API v3 protocol, exercised with constructed v3 messages; never the network."""

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from orders import wechatpay
from orders.wechatpay import (
    AuthorizationRejected,
    ExpectedPayment,
    MerchantConfig,
    SandboxPlatform,
    WechatPayClient,
    WechatPayError,
)

NOW = 1_780_000_000
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
API_V3_KEY = "k9Xq2Lm8Pz4Rt6Vb1Nc3Hd5Jf7Gs0WaY"
OTHER_API_V3_KEY = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
ORDER_NO = "YQ2026112712345678"
AMOUNT_FEN = 600_00
API_BASE = "https://api.mch.weixin.qq.com"


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform() -> SandboxPlatform:
    return SandboxPlatform.generate()


@pytest.fixture(scope="module")
def impostor(platform) -> SandboxPlatform:
    """Claims the real platform's serial but signs with a key of its own."""
    return SandboxPlatform(
        private_key=SandboxPlatform.generate().private_key, serial=platform.serial
    )


@pytest.fixture
def config(merchant_key, platform) -> MerchantConfig:
    return MerchantConfig(
        mchid=MCHID,
        appid=APPID,
        merchant_serial_no=MERCHANT_SERIAL,
        merchant_private_key=merchant_key,
        api_v3_key=API_V3_KEY,
        platform_public_keys={platform.serial: platform.public_key()},
        notify_url="https://yueqiqian.example/payments/wechat/notify",
    )


def paid_transaction(config: MerchantConfig, **changes: Any) -> dict[str, Any]:
    transaction = SandboxPlatform.paid_transaction(
        config=config, out_trade_no=ORDER_NO, amount_fen=AMOUNT_FEN
    )
    transaction.update(changes)
    return transaction


def notification(
    platform: SandboxPlatform, config: MerchantConfig, **kwargs: Any
) -> tuple[dict[str, str], bytes]:
    transaction = kwargs.pop("transaction", None) or paid_transaction(config)
    kwargs.setdefault("timestamp", NOW)
    kwargs.setdefault("api_v3_key", API_V3_KEY)
    return platform.sign_notification(transaction=transaction, **kwargs)


def resigned(platform: SandboxPlatform, envelope: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """An edited envelope, validly signed again: only the later checks can catch the edit."""
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return platform.sign(body, timestamp=NOW), body


def parse(headers, body, config, **kwargs):
    return wechatpay.parse_notification(
        headers=headers, body=body, config=config, now=NOW, **kwargs
    )


# --- request signing ----------------------------------------------------------------------------


def test_authorization_header_is_the_v3_scheme_with_the_five_quoted_fields(config):
    header = wechatpay.build_authorization(
        method="GET",
        url_path_with_query="/v3/certificates",
        body="",
        config=config,
        timestamp=1554208460,
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
    )

    assert re.fullmatch(
        r'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",'
        r'nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
        r'signature="[A-Za-z0-9+/]+=*",timestamp="1554208460",'
        rf'serial_no="{MERCHANT_SERIAL}"',
        header,
    )


def test_authorization_signature_verifies_over_the_exact_five_line_message(config, merchant_key):
    body = '{"appid":"wxd678efh567hg6787","amount":{"total":1,"currency":"CNY"}}'

    header = wechatpay.build_authorization(
        method="POST",
        url_path_with_query="/v3/pay/transactions/h5",
        body=body,
        config=config,
        timestamp=1554208460,
        nonce="NONCE123",
    )

    signature = base64.b64decode(re.search(r'signature="([^"]+)"', header).group(1))
    message = f"POST\n/v3/pay/transactions/h5\n1554208460\nNONCE123\n{body}\n".encode()
    merchant_key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_authorization_defaults_to_the_current_time_and_a_fresh_random_nonce(config):
    def fields(header: str) -> dict[str, str]:
        return dict(re.findall(r'(\w+)="([^"]*)"', header))

    first = fields(
        wechatpay.build_authorization(
            method="GET", url_path_with_query="/v3/x", body="", config=config
        )
    )
    second = fields(
        wechatpay.build_authorization(
            method="GET", url_path_with_query="/v3/x", body="", config=config
        )
    )

    assert abs(int(first["timestamp"]) - time.time()) < 5
    assert len(first["nonce_str"]) >= 16
    assert first["nonce_str"] != second["nonce_str"]


def test_sandbox_accepts_a_correctly_signed_request_and_returns_its_fields(config, merchant_key):
    header = wechatpay.build_authorization(
        method="GET", url_path_with_query="/v3/x?mchid=1", body="", config=config, timestamp=NOW
    )

    fields = SandboxPlatform.verify_authorization(
        "GET", "/v3/x?mchid=1", "", header, merchant_key.public_key(), now=NOW
    )

    assert (fields["mchid"], fields["serial_no"]) == (MCHID, MERCHANT_SERIAL)


def test_sandbox_refuses_a_request_whose_body_differs_from_the_signed_one(config, merchant_key):
    header = wechatpay.build_authorization(
        method="POST", url_path_with_query="/v3/x", body='{"total":1}', config=config, timestamp=NOW
    )

    with pytest.raises(AuthorizationRejected, match="sign not match"):
        SandboxPlatform.verify_authorization(
            "POST", "/v3/x", '{"total":100}', header, merchant_key.public_key(), now=NOW
        )


def test_sandbox_refuses_a_request_signed_more_than_five_minutes_ago(config, merchant_key):
    header = wechatpay.build_authorization(
        method="GET", url_path_with_query="/v3/x", body="", config=config, timestamp=NOW - 301
    )

    with pytest.raises(AuthorizationRejected, match="expired"):
        SandboxPlatform.verify_authorization(
            "GET", "/v3/x", "", header, merchant_key.public_key(), now=NOW
        )


# --- notifications: the happy path ---------------------------------------------------------------


def test_a_valid_notification_parses_to_the_paid_transaction(platform, config):
    headers, body = notification(platform, config)

    transaction = parse(headers, body, config)

    assert transaction.out_trade_no == ORDER_NO
    assert transaction.trade_state == "SUCCESS"
    assert transaction.amount_total == AMOUNT_FEN
    assert transaction.payer_total == AMOUNT_FEN
    assert transaction.currency == "CNY"
    assert (transaction.mchid, transaction.appid) == (MCHID, APPID)
    assert transaction.transaction_id.startswith("4200")
    assert transaction.success_time.tzinfo is not None
    assert transaction.raw["payer"]["openid"] == "sandbox-openid"


def test_a_notification_matching_the_expected_payment_is_accepted(platform, config):
    headers, body = notification(platform, config)

    transaction = parse(headers, body, config, expected=ExpectedPayment(ORDER_NO, AMOUNT_FEN))

    assert transaction.out_trade_no == ORDER_NO


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_notification_header_names_match_in_any_case(platform, config, case):
    headers, body = notification(platform, config)

    transaction = parse({case(name): value for name, value in headers.items()}, body, config)

    assert transaction.out_trade_no == ORDER_NO


@pytest.mark.parametrize("skew", [-300, 300])
def test_a_timestamp_exactly_five_minutes_away_is_still_accepted(platform, config, skew):
    headers, body = notification(platform, config, timestamp=NOW + skew)

    assert parse(headers, body, config).out_trade_no == ORDER_NO


def test_a_platform_loaded_from_pem_signs_notifications_that_verify(platform, config):
    reloaded = SandboxPlatform.from_pem(platform.private_key_pem(), serial=platform.serial)
    headers, body = notification(reloaded, config)

    assert parse(headers, body, config).out_trade_no == ORDER_NO


# --- notifications: each rejection ---------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["Wechatpay-Serial", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature"],
)
def test_a_missing_header_is_rejected(platform, config, header):
    headers, body = notification(platform, config)
    del headers[header]

    with pytest.raises(wechatpay.MissingHeader, match=header):
        parse(headers, body, config)


def test_an_unknown_platform_serial_is_rejected(platform, config):
    headers, body = notification(platform, config)
    headers["Wechatpay-Serial"] = "0" * 40

    with pytest.raises(wechatpay.UnknownSerial):
        parse(headers, body, config)


@pytest.mark.parametrize("skew", [-301, 301], ids=["301s-old", "301s-in-the-future"])
def test_a_timestamp_more_than_five_minutes_away_is_rejected(platform, config, skew):
    headers, body = notification(platform, config, timestamp=NOW + skew)

    with pytest.raises(wechatpay.StaleNotification):
        parse(headers, body, config)


def test_a_body_byte_changed_after_signing_is_rejected(platform, config):
    headers, body = notification(platform, config, event_id="EV-1")
    tampered = body.replace(b'"EV-1"', b'"EV-2"')
    assert tampered != body

    with pytest.raises(wechatpay.BadSignature):
        parse(headers, tampered, config)


def test_the_exact_received_bytes_are_verified_not_equivalent_json(platform, config):
    headers, body = notification(platform, config)
    reserialized = json.dumps(json.loads(body), indent=2).encode()

    with pytest.raises(wechatpay.BadSignature):
        parse(headers, reserialized, config)


def test_a_signature_from_another_key_is_rejected(impostor, config):
    headers, body = notification(impostor, config)

    with pytest.raises(wechatpay.BadSignature):
        parse(headers, body, config)


def test_a_signature_type_other_than_rsa2048_is_rejected(platform, config):
    headers, body = notification(platform, config)
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"

    with pytest.raises(wechatpay.BadSignature):
        parse(headers, body, config)


def test_signed_malformed_json_is_rejected(platform, config):
    body = b'{"id": "EV-1", "event_type": '

    with pytest.raises(wechatpay.MalformedNotification):
        parse(platform.sign(body, timestamp=NOW), body, config)


def test_an_event_other_than_transaction_success_is_rejected(platform, config):
    envelope = json.loads(notification(platform, config)[1])
    envelope["event_type"] = "REFUND.SUCCESS"

    with pytest.raises(wechatpay.UnexpectedEvent):
        parse(*resigned(platform, envelope), config)


def test_an_algorithm_other_than_aead_aes_256_gcm_is_rejected(platform, config):
    envelope = json.loads(notification(platform, config)[1])
    envelope["resource"]["algorithm"] = "AEAD_AES_128_GCM"

    with pytest.raises(wechatpay.UnsupportedAlgorithm):
        parse(*resigned(platform, envelope), config)


def test_a_tampered_ciphertext_fails_decryption(platform, config):
    envelope = json.loads(notification(platform, config)[1])
    ciphertext = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    ciphertext[0] ^= 0x01
    envelope["resource"]["ciphertext"] = base64.b64encode(ciphertext).decode()

    with pytest.raises(wechatpay.DecryptionFailed):
        parse(*resigned(platform, envelope), config)


def test_a_resource_encrypted_with_another_api_v3_key_fails_decryption(platform, config):
    headers, body = notification(platform, config, api_v3_key=OTHER_API_V3_KEY)

    with pytest.raises(wechatpay.DecryptionFailed):
        parse(headers, body, config)


def test_a_float_amount_in_the_transaction_is_rejected(platform, config):
    transaction = paid_transaction(config)
    transaction["amount"]["total"] = 600.0

    with pytest.raises(wechatpay.MalformedNotification, match="total"):
        parse(*notification(platform, config, transaction=transaction), config)


def test_a_transaction_not_in_trade_state_success_is_rejected(platform, config):
    transaction = paid_transaction(config, trade_state="NOTPAY")

    with pytest.raises(wechatpay.NotPaid):
        parse(*notification(platform, config, transaction=transaction), config)


def test_a_transaction_paid_to_another_mchid_is_rejected(platform, config):
    transaction = paid_transaction(config, mchid="1900000999")

    with pytest.raises(wechatpay.WrongPayee, match="mchid"):
        parse(*notification(platform, config, transaction=transaction), config)


def test_a_transaction_for_another_appid_is_rejected(platform, config):
    transaction = paid_transaction(config, appid="wx0000000000000000")

    with pytest.raises(wechatpay.WrongPayee, match="appid"):
        parse(*notification(platform, config, transaction=transaction), config)


def test_a_transaction_for_a_different_amount_is_rejected(platform, config):
    headers, body = notification(platform, config)

    with pytest.raises(wechatpay.AmountMismatch):
        parse(headers, body, config, expected=ExpectedPayment(ORDER_NO, AMOUNT_FEN + 1))


def test_a_transaction_in_another_currency_is_rejected(platform, config):
    transaction = paid_transaction(config)
    transaction["amount"]["currency"] = "USD"

    with pytest.raises(wechatpay.CurrencyMismatch):
        parse(
            *notification(platform, config, transaction=transaction),
            config,
            expected=ExpectedPayment(ORDER_NO, AMOUNT_FEN),
        )


def test_a_transaction_for_another_order_is_rejected(platform, config):
    headers, body = notification(platform, config)

    with pytest.raises(wechatpay.UnknownOrder):
        parse(headers, body, config, expected=ExpectedPayment("YQ2026112700000000", AMOUNT_FEN))


def test_rejections_carry_a_short_reason_for_the_logs(platform, config):
    headers, body = notification(platform, config, timestamp=NOW - 3600)

    with pytest.raises(wechatpay.NotificationRejected) as caught:
        parse(headers, body, config)

    assert caught.value.reason == "timestamp is 3600 s away from now"


# --- the API client -----------------------------------------------------------------------------


@dataclass
class SentRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    authorization: dict[str, str]


class FakeWechatPayApi:
    """WeChat Pay's API side built on SandboxPlatform: checks each request's Authorization the
    way the real server does (401 SIGN_ERROR otherwise) and answers with signed responses."""

    def __init__(self, *, platform, merchant_public_key, answers, signer=None):
        self.platform = platform
        self.merchant_public_key = merchant_public_key
        self.answers = answers  # (method, path) -> (status, body bytes)
        self.signer = signer or platform.sign_response
        self.sent: list[SentRequest] = []

    def __call__(self, method, url, headers, body):
        assert url.startswith(API_BASE)
        path = url.removeprefix(API_BASE)
        try:
            authorization = SandboxPlatform.verify_authorization(
                method, path, body.decode(), headers["Authorization"], self.merchant_public_key
            )
        except AuthorizationRejected as exc:
            return 401, {}, json.dumps({"code": "SIGN_ERROR", "message": exc.reason}).encode()
        self.sent.append(
            SentRequest(
                method, path, dict(headers), json.loads(body) if body else None, authorization
            )
        )
        status, answer = self.answers[(method, path)]
        return status, self.signer(status, answer), answer


H5_PATH = "/v3/pay/transactions/h5"
H5_ANSWER = json.dumps(
    {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx2016&package=1"}
).encode()


def create_h5_order(client: WechatPayClient) -> str:
    return client.create_h5_order(
        out_trade_no=ORDER_NO,
        description="粤企签 数字证书",
        amount_fen=AMOUNT_FEN,
        payer_client_ip="203.0.113.7",
    )


def test_create_h5_order_returns_the_h5_url_from_a_signed_answer(platform, config, merchant_key):
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", H5_PATH): (200, H5_ANSWER)},
    )

    h5_url = create_h5_order(WechatPayClient(config, transport=api))

    assert h5_url == json.loads(H5_ANSWER)["h5_url"]


def test_create_h5_order_sends_a_signed_request_with_the_order_in_fen(
    platform, config, merchant_key
):
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", H5_PATH): (200, H5_ANSWER)},
    )

    create_h5_order(WechatPayClient(config, transport=api))

    [sent] = api.sent
    assert (sent.method, sent.path) == ("POST", H5_PATH)
    assert (sent.authorization["mchid"], sent.authorization["serial_no"]) == (
        MCHID,
        MERCHANT_SERIAL,
    )
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "粤企签 数字证书",
        "out_trade_no": ORDER_NO,
        "notify_url": config.notify_url,
        "amount": {"total": AMOUNT_FEN, "currency": "CNY"},
        "scene_info": {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}},
    }


def test_create_h5_order_refuses_a_float_amount(config):
    client = WechatPayClient(config, transport=lambda *args: pytest.fail("nothing may be sent"))

    with pytest.raises(ValueError, match="fen"):
        client.create_h5_order(
            out_trade_no=ORDER_NO,
            description="证书",
            amount_fen=600.0,
            payer_client_ip="203.0.113.7",
        )


def test_query_order_gets_by_out_trade_no_with_mchid_and_returns_the_transaction(
    platform, config, merchant_key
):
    path = f"/v3/pay/transactions/out-trade-no/{ORDER_NO}?mchid={MCHID}"
    answer = json.dumps(paid_transaction(config), ensure_ascii=False).encode()
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("GET", path): (200, answer)},
    )

    transaction = WechatPayClient(config, transport=api).query_order(ORDER_NO)

    assert api.sent[0].json is None
    assert (transaction.out_trade_no, transaction.trade_state) == (ORDER_NO, "SUCCESS")
    assert transaction.amount_total == AMOUNT_FEN


def test_close_order_posts_the_mchid_and_accepts_a_signed_204(platform, config, merchant_key):
    path = f"/v3/pay/transactions/out-trade-no/{ORDER_NO}/close"
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", path): (204, b"")},
    )

    WechatPayClient(config, transport=api).close_order(ORDER_NO)

    assert [(sent.path, sent.json) for sent in api.sent] == [(path, {"mchid": MCHID})]


def test_an_answer_signed_by_another_key_is_rejected(platform, impostor, config, merchant_key):
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", H5_PATH): (200, H5_ANSWER)},
        signer=impostor.sign_response,
    )

    with pytest.raises(wechatpay.ResponseNotVerified) as caught:
        create_h5_order(WechatPayClient(config, transport=api))

    assert isinstance(caught.value.__cause__, wechatpay.BadSignature)


def test_an_unsigned_success_answer_is_rejected(platform, config, merchant_key):
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", H5_PATH): (200, H5_ANSWER)},
        signer=lambda status, body: {"Content-Type": "application/json"},
    )

    with pytest.raises(wechatpay.ResponseNotVerified):
        create_h5_order(WechatPayClient(config, transport=api))


def test_an_error_answer_raises_wechatpay_error_with_its_code(platform, config, merchant_key):
    answer = json.dumps({"code": "ORDER_CLOSED", "message": "订单已关闭"}, ensure_ascii=False)
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=merchant_key.public_key(),
        answers={("POST", H5_PATH): (400, answer.encode())},
    )

    with pytest.raises(WechatPayError) as caught:
        create_h5_order(WechatPayClient(config, transport=api))

    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "ORDER_CLOSED",
        "订单已关闭",
        400,
    )


def test_a_request_signed_with_the_wrong_merchant_key_gets_sign_error(platform, config, impostor):
    api = FakeWechatPayApi(
        platform=platform,
        merchant_public_key=impostor.public_key(),
        answers={("POST", H5_PATH): (200, H5_ANSWER)},
    )

    with pytest.raises(WechatPayError) as caught:
        create_h5_order(WechatPayClient(config, transport=api))

    assert (caught.value.code, caught.value.status) == ("SIGN_ERROR", 401)


# --- configuration ------------------------------------------------------------------------------


def test_config_refuses_an_api_v3_key_that_is_not_32_bytes(config):
    with pytest.raises(ValueError, match="32 bytes"):
        MerchantConfig(
            mchid=MCHID,
            appid=APPID,
            merchant_serial_no=MERCHANT_SERIAL,
            merchant_private_key=config.merchant_private_key,
            api_v3_key="too-short",
            platform_public_keys={},
            notify_url=config.notify_url,
        )


def test_config_repr_keeps_the_secrets_out(config):
    assert API_V3_KEY not in repr(config)
    assert "merchant_private_key" not in repr(config)
