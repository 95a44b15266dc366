"""``notigate.masking``: no card number or personal data leaves a platform's metadata unmasked."""

from __future__ import annotations

from typing import Any

import pytest

from notigate.masking import mask_card, mask_email, mask_metadata, mask_name, mask_phone

VISA = "4811111111111114"  # Luhn-valid test PAN
AMEX = "378282246310005"  # 15 digits, Luhn-valid
NOT_LUHN = "4811111111111115"


# -- cards ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VISA, "481111******1114"),
        ("4811-1111-1111-1114", "481111******1114"),
        ("4811 1111 1111 1114", "481111******1114"),
        (AMEX, "378282*****0005"),
        ("6011111111111111117", "601111*********1117"),
    ],
)
def test_full_card_numbers_keep_first_six_and_last_four(value: str, expected: str) -> None:
    """A full PAN keeps at most its first six and last four digits, the rest starred."""
    assert mask_card(value) == expected


@pytest.mark.parametrize("value", ["481111******1114", "481111-1114", "************1114", "4811 11** **** 1114"])
def test_already_masked_card_numbers_are_kept(value: str) -> None:
    """A card number that is already masked (≤ 10 digits left, with stars or a dash) is kept as it is."""
    assert mask_card(value) == value


def test_short_unmasked_card_value_is_starred_entirely() -> None:
    """A short card value with no mask in it (a bare last-four, a CVV) is starred out."""
    assert mask_card("1114") == "****"


@pytest.mark.parametrize("key", ["card_number", "masked_card", "pan", "CardNumber", "card"])
def test_card_keys_mask_their_values(key: str) -> None:
    """Any key mentioning a card or PAN masks its value, even when the number fails Luhn."""
    assert mask_metadata({key: NOT_LUHN}) == {key: "481111******1115"}


# -- emails, phones, names ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("budi@example.co.id", "b***@example.co.id"), ("a@b.c", "a***@b.c"), ("not-an-email", "***")],
)
def test_emails_keep_first_letter_and_domain(value: str, expected: str) -> None:
    """An email keeps its first letter and its domain."""
    assert mask_email(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+6281234567890", "+62*******7890"), ("081234567890", "081*****7890"), ("12345", "*****")],
)
def test_phones_keep_prefix_and_last_four(value: str, expected: str) -> None:
    """A phone number keeps its first three and last four characters; a very short one is starred."""
    assert mask_phone(value) == expected


def test_names_keep_their_initial() -> None:
    """A person's name keeps its initial only; an empty name stays empty."""
    assert (mask_name("Budi"), mask_name("")) == ("B***", "")


def test_personal_fields_are_masked_by_key() -> None:
    """Email, phone and name keys are masked with their own rule; merchant and bank names are not personal."""
    data = {
        "email": "budi@example.co.id",
        "customer_email": "siti@example.com",
        "phone": "+6281234567890",
        "mobile_number": "+6289876543210",
        "msisdn": "6281234567890",
        "first_name": "Budi",
        "last_name": "Santoso",
        "merchant_name": "Toko Budi",
        "bank_name": "BCA",
    }
    assert mask_metadata(data) == {
        "email": "b***@example.co.id",
        "customer_email": "s***@example.com",
        "phone": "+62*******7890",
        "mobile_number": "+62*******3210",
        "msisdn": "628******7890",
        "first_name": "B***",
        "last_name": "S***",
        "merchant_name": "Toko Budi",
        "bank_name": "BCA",
    }


# -- secrets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["password", "client_secret", "access_token", "signature_key", "server_key", "cvv", "CVC", "pin", "PASSWORD"]
)
def test_secrets_are_redacted_by_key(key: str) -> None:
    """Values under secret-looking keys are replaced by ``[redacted]``, whatever their case."""
    assert mask_metadata({key: "hunter2"}) == {key: "[redacted]"}


def test_secret_keys_win_over_other_rules() -> None:
    """A key that is both secret and personal (``email_password``) is redacted, not partly shown."""
    assert mask_metadata({"email_password": "budi@example.co.id"}) == {"email_password": "[redacted]"}


# -- free text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"card {VISA} declined", "card 481111******1114 declined"),
        ("card 4811 1111 1111 1114 declined", "card 481111******1114 declined"),
        ("card 4811-1111-1111-1114.", "card 481111******1114."),
        (f"{AMEX}", "378282*****0005"),
        (f"two cards {VISA} and {AMEX}", "two cards 481111******1114 and 378282*****0005"),
    ],
)
def test_luhn_valid_card_numbers_in_free_text_are_masked(text: str, expected: str) -> None:
    """A Luhn-valid PAN inside any string is masked, whatever the key."""
    assert mask_metadata({"status_message": text}) == {"status_message": expected}


@pytest.mark.parametrize(
    "text",
    [
        f"order {NOT_LUHN}",
        "ORD-1234567890123",
        "invoice 20240801101530",
        "bill 1234567890123456789",
        "ref 123456789012",
        "amount 150000.00",
        "2024-08-01 10:15:30",
    ],
)
def test_non_luhn_digit_runs_are_untouched(text: str) -> None:
    """Order, invoice and bill numbers that fail Luhn (or are too short for a PAN) stay readable."""
    assert mask_metadata({"reference": text}) == {"reference": text}


def test_emails_in_free_text_are_masked() -> None:
    """An email address inside a free-text field is partly masked."""
    assert mask_metadata({"note": "contact budi@example.co.id today"}) == {"note": "contact b***@example.co.id today"}


# -- structure ------------------------------------------------------------------------


def test_nested_dicts_and_lists_are_masked() -> None:
    """Masking reaches every level of dicts and lists, keeping the structure and non-string values."""
    data: dict[str, Any] = {
        "customer_details": {
            "email": "budi@example.co.id",
            "phone": "+6281234567890",
            "billing": {"first_name": "Budi"},
        },
        "items": [{"name": "Budi", "price": 150000}, f"paid with {VISA}"],
        "emails": ["budi@example.co.id", "siti@example.com"],
        "fraud_status": "accept",
        "installment": 3,
        "three_ds": True,
        "extra": None,
    }
    assert mask_metadata(data) == {
        "customer_details": {
            "email": "b***@example.co.id",
            "phone": "+62*******7890",
            "billing": {"first_name": "B***"},
        },
        "items": [{"name": "B***", "price": 150000}, "paid with 481111******1114"],
        "emails": ["b***@example.co.id", "s***@example.com"],
        "fraud_status": "accept",
        "installment": 3,
        "three_ds": True,
        "extra": None,
    }


def test_masking_returns_a_copy() -> None:
    """The input is left unchanged."""
    data = {"card": {"number": VISA}, "list": [VISA]}
    mask_metadata(data)
    assert data == {"card": {"number": VISA}, "list": [VISA]}


def test_lists_inherit_their_key() -> None:
    """Strings in a list are masked by the list's key; a secret key redacts the whole list."""
    assert mask_metadata({"phones": ["+6281234567890"], "tokens": ["abc"]}) == {
        "phones": ["+62*******7890"],
        "tokens": "[redacted]",
    }


# -- known gaps (engine bugs) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "leaked"),
    [
        ({"card_number": int(VISA)}, VISA),
        ({"note": int(VISA)}, VISA),
        ({"cvv": 123}, "123"),
        ({"pin": 123456}, "123456"),
    ],
)
def test_numbers_under_card_or_secret_keys_are_masked(data: dict[str, Any], leaked: str) -> None:
    """A card number, CVV or PIN given as a number is masked like its string form."""
    assert leaked not in repr(mask_metadata(data))


def test_everything_under_a_secret_key_is_redacted() -> None:
    """A secret-looking key redacts its whole value, even a nested object."""
    assert "hunter2" not in repr(mask_metadata({"secret": {"value": "hunter2"}, "credentials": {"password": "x"}}))


@pytest.mark.parametrize("key", ["shipping_method", "company", "opinion", "discard_reason"])
def test_ordinary_keys_containing_a_fragment_are_not_masked(key: str) -> None:
    """Keys that merely contain ``pin``, ``pan`` or ``card`` inside another word keep their value."""
    assert mask_metadata({key: "JNE Express"}) == {key: "JNE Express"}


def test_nesting_beyond_the_limit_is_replaced_not_a_recursion_error() -> None:
    """Metadata nested 2,000 levels deep is masked without RecursionError; the deep part is dropped."""
    nested: Any = "4811111111111114"
    for _ in range(2000):
        nested = {"a": nested}
    masked = mask_metadata({"x": nested})
    assert "4811111111111114" not in repr(masked)
    assert "nested too deep" in repr(masked)
