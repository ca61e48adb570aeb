import logging

from yueqiqian.logfilters import RedactShareTokens


def test_share_tokens_are_redacted_from_log_messages():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Gone: %s",
        ("/a/Abc_def-123456789012345678/check/",),
        None,
    )

    RedactShareTokens().filter(record)

    assert record.getMessage() == "Gone: /a/<redacted>/check/"


def test_other_messages_are_left_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "order %s", ("YQ1",), None)

    RedactShareTokens().filter(record)

    assert record.getMessage() == "order YQ1"
