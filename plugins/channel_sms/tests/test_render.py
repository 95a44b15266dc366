"""What the SMS channel would send: one segment, GSM-7 where possible, the count recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from notigate import Message
from notigate_channel_sms import SmsChannel, fit_one_segment
from notigate_channel_sms._segments import GSM7_BASIC, GSM7_EXTENSION

from .conftest import PHONE, SENDER


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_short_text_unchanged(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """A short text is sent as is (the subject is for email), with encoding, segment and count in the headers."""
    rendered = channel.render(make_message(text="[Warning] Card declined: INV-1"))
    assert rendered.body == "[Warning] Card declined: INV-1"
    assert rendered.content_type == "text/plain"
    # "[" and "]" are in the GSM-7 extension table: 30 characters, 32 septets
    assert rendered.headers == {"to": PHONE, "from": SENDER, "encoding": "GSM-7", "segments": "1", "characters": "32"}


def test_long_ascii_cut_to_160(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """A 200-character ASCII text is cut to 160 GSM-7 characters ending in an ellipsis."""
    rendered = channel.render(make_message(subject="", text="a" * 200))
    assert rendered.body == "a" * 157 + "..."
    assert rendered.headers["encoding"] == "GSM-7" and rendered.headers["characters"] == "160"


def test_cut_does_not_end_in_space(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """A cut right after a space drops the space before the ellipsis."""
    rendered = channel.render(make_message(subject="", text="a" * 156 + " " + "b" * 10))
    assert rendered.body == "a" * 156 + "..." and rendered.headers["characters"] == "159"


def test_extension_chars_count_double(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """€ and { are GSM-7 but take two septets each, in the count and in the cut."""
    assert channel.render(make_message(subject="", text="{x} 5€")).headers == {
        "to": PHONE,
        "from": SENDER,
        "encoding": "GSM-7",
        "segments": "1",
        "characters": "9",
    }
    rendered = channel.render(make_message(subject="", text="€" * 100))
    assert rendered.body == "€" * 78 + "..."
    assert rendered.headers["characters"] == "159"


def test_extension_boundary() -> None:
    """158 plain characters and one € fill one segment exactly; one more character forces a cut."""
    assert fit_one_segment("a" * 158 + "€").text == "a" * 158 + "€"
    assert fit_one_segment("a" * 158 + "€").units == 160
    cut = fit_one_segment("a" * 159 + "€")
    assert cut.truncated and cut.text == "a" * 157 + "..." and cut.units == 160


def test_emoji_text_is_ucs2_within_70(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """An Indonesian text with an emoji is UCS-2, cut to at most 70 UTF-16 units with a single-character ellipsis."""
    text = "Pembayaran gagal 😞 saldo tidak cukup untuk transaksi INV-2026-0001 sebesar Rp150.000, silakan coba lagi"
    rendered = channel.render(make_message(subject="", text=text))
    assert rendered.headers["encoding"] == "UCS-2"
    assert rendered.body.startswith("Pembayaran gagal 😞 saldo") and rendered.body.endswith("…")
    assert utf16_units(rendered.body) <= 70
    assert rendered.headers["characters"] == str(utf16_units(rendered.body))


def test_emoji_counts_two_units() -> None:
    """An emoji outside the BMP takes two UCS-2 units, and a cut never splits it."""
    short = fit_one_segment("Lunas 🎉")
    assert (short.encoding, short.units, short.truncated) == ("UCS-2", 8, False)
    cut = fit_one_segment("🎉" * 40)
    assert cut.text == "🎉" * 34 + "…" and cut.units == 69


def test_short_ucs2_unchanged() -> None:
    """A short text in a non-Latin script is kept whole as UCS-2."""
    fitted = fit_one_segment("支付失败：余额不足")
    assert (fitted.text, fitted.encoding, fitted.units, fitted.truncated) == ("支付失败：余额不足", "UCS-2", 9, False)


def test_lookalike_punctuation_stays_gsm7(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """The engine's em dash and curly quotes become ASCII, so the text keeps 160 characters of room."""
    rendered = channel.render(make_message(text="Card declined — “insufficient funds” … 150000.00 IDR"))
    assert rendered.headers["encoding"] == "GSM-7"
    assert rendered.body.endswith('Card declined - "insufficient funds" ... 150000.00 IDR')


def test_ucs2_keeps_its_own_punctuation() -> None:
    """A text that needs UCS-2 anyway keeps its em dash."""
    assert fit_one_segment("Gagal 😞 — coba lagi").text == "Gagal 😞 — coba lagi"


def test_whitespace_collapsed() -> None:
    """Line breaks and runs of spaces collapse to one space, saving room in the segment."""
    assert fit_one_segment("  Card\n declined\t\tby   issuer ").text == "Card declined by issuer"


def test_fallback_to_notification_message(channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """Without a text the subject is sent, and without either the notification's own message."""
    assert channel.render(make_message(text="")).body == "[warning] arindo: card_declined"
    assert channel.render(make_message(subject="", text="")).body == "Card declined by the issuer"


@pytest.mark.parametrize("text", ["", "x", "a" * 160, "a" * 161, "ü" * 300, "]" * 81, "😞" * 36, "a😞" * 30])
def test_always_one_segment(text: str) -> None:
    """Whatever the text, the result fits one segment of its encoding."""
    fitted = fit_one_segment(text)
    assert fitted.units <= (160 if fitted.encoding == "GSM-7" else 70)


def test_gsm7_tables() -> None:
    """The GSM 03.38 basic set has 127 printable characters (128 less the escape) and the extension 10."""
    assert len(GSM7_BASIC) == 127 and len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
