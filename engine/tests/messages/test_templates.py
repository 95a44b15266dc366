"""Localized templates: layered folders, load-time checks, CLDR formatting and catalogs."""

from __future__ import annotations

import configparser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from notigate.errors import NotigateError, TemplateError
from notigate.events import TAXONOMY, Notification
from notigate.messages.formatting import Formatter, locale_problem, timezone_problem
from notigate.messages.samples import sample_digest
from notigate.messages.templates import RenderedText, Templates, default_dir

REPO = Path(__file__).resolve().parents[3]
AT = datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC)
# GSM 03.38: the basic set costs one character, the extension set two.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates.load()


@pytest.fixture
def event(make_notification: Callable[..., Notification]) -> Notification:
    return make_notification(
        occurred_at=AT, received_at=AT, reference="INV-2026-0001", message="Card declined by the issuer"
    )


def context(event: Notification) -> dict[str, Any]:
    return {"event": event, "rule": "fraud to the risk team", "recipient": "ops@example.com"}


def digest_context(event: Notification) -> dict[str, Any]:
    return {**context(event), "digest": sample_digest(notification_ids=[event.id])}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def gsm7_length(text: str) -> int:
    assert set(text) <= GSM7_BASIC | GSM7_EXTENSION, f"not GSM-7: {sorted(set(text) - GSM7_BASIC - GSM7_EXTENSION)}"
    return sum(2 if char in GSM7_EXTENSION else 1 for char in text)


def test_event_in_english_and_indonesian(templates: Templates, event: Notification) -> None:
    """One event reads in each locale's words, CLDR amount and WIB wall-clock time."""
    en = templates.render("email", "event", context(event), locale="en", timezone="Asia/Jakarta")
    id_ = templates.render("email", "event", context(event), locale="id", timezone="Asia/Jakarta")
    assert en.subject == "Card declined: INV-2026-0001 (IDR150,000)"
    assert id_.subject == "Kartu ditolak: INV-2026-0001 (Rp150.000)"
    assert "Amount: IDR150,000" in en.text and "Nominal: Rp150.000" in id_.text
    assert "Aug 1, 2024, 10:15:30\u202fAM WIB" in en.text
    assert "1 Agu 2024 10.15.30 WIB" in id_.text
    assert en.html is not None and "IDR150,000" in en.html and "10:15:30\u202fAM WIB" in en.html
    assert id_.html is not None and '<html lang="id">' in id_.html and "Kartu ditolak" in id_.html


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        ("en", Decimal("150000.00"), "IDR", "IDR150,000"),
        ("id", Decimal("150000.00"), "IDR", "Rp150.000"),
        ("en", Decimal("12.5"), "USD", "$12.50"),
        ("id", Decimal("12.5"), "USD", "US$12,50"),
        ("id", Decimal("150000.5"), "IDR", "Rp150.000,5"),
        ("en", Decimal("1234.5"), None, "1,234.5"),
        ("en", None, "IDR", ""),
    ],
)
def test_money_is_cldr_and_release_independent(
    locale: str, amount: Decimal | None, currency: str | None, expected: str
) -> None:
    """Amounts print as CLDR writes them, with fixed display digits and no cent ever dropped."""
    assert Formatter.for_recipient(locale, "Asia/Jakarta").money(amount, currency) == expected


def test_filters_use_the_recipients_locale_and_zone(tmp_path: Path, event: Notification) -> None:
    """Each filter formats in the render's locale and time zone; a None amount renders empty."""
    write(
        tmp_path,
        "x/event.txt",
        '{{ event.amount|money(event.currency) }}|{{ none|money("IDR") }}|'
        '{{ event.occurred_at|datetime("short_tz") }}|{{ event.occurred_at|date }}|'
        '{{ event.occurred_at|time("short_tz") }}|{{ event.received_at|timeago }}',
    )
    templates = Templates.load(tmp_path)
    recent = context(msgspec.structs.replace(event, received_at=datetime.now(UTC) - timedelta(minutes=5)))
    assert templates.render("x", "event", recent, locale="en", timezone="Asia/Jakarta").text == (
        "IDR150,000||8/1/24, 10:15\u202fAM WIB|Aug 1, 2024|10:15\u202fAM WIB|5 minutes ago"
    )
    assert templates.render("x", "event", recent, locale="id", timezone="Asia/Jakarta").text == (
        "Rp150.000||1/8/24 10.15 WIB|1 Agu 2024|10.15 WIB|5 menit yang lalu"
    )
    assert templates.render("x", "event", recent, locale="en", timezone="UTC").text.split("|")[4] == "3:15\u202fAM UTC"


def test_html_escapes_a_hostile_message(templates: Templates, make_notification: Callable[..., Notification]) -> None:
    """Platform text is escaped in HTML (autoescape) but left as is in plain text."""
    event = make_notification(message="<script>alert(1)</script>")
    rendered = templates.render("email", "event", context(event), locale="en", timezone="Asia/Jakarta")
    assert rendered.html is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html and "<script>" not in rendered.html
    assert "<script>alert(1)</script>" in rendered.text


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """A syntax error in an override template stops the load with its path and line."""
    path = write(tmp_path, "email/event.html", "<p>\n{{ event.id }}\n{{ event.code }</p>\n")
    with pytest.raises(TemplateError) as raised:
        Templates.load(tmp_path)
    assert isinstance(raised.value, NotigateError)
    assert raised.value.problems == [f"{path}:3: unexpected '}}'"]


def test_unknown_filter_and_test_fail_the_load(tmp_path: Path) -> None:
    """Unknown filters and tests are reported at load, even inside a branch that may never run."""
    path = write(
        tmp_path,
        "email/event.txt",
        "{% if event.amount %}\n{{ event.amount|moneyy }}\n{% endif %}\n{% if event is moneyish %}{% endif %}\n",
    )
    broken = write(tmp_path, "sms/event.txt", "{% include 'sms/_missing.txt' %}")
    with pytest.raises(TemplateError) as raised:
        Templates.load(tmp_path)
    assert raised.value.problems == [
        f"{path}:2: no filter named 'moneyy'",
        f"{path}:4: no test named 'moneyish'",
        f"{broken}:1: template 'sms/_missing.txt' not found",
    ]


def test_render_error_names_the_template(tmp_path: Path, event: Notification) -> None:
    """An undefined variable fails the render (and check()) with a TemplateError naming file and line."""
    path = write(tmp_path, "email/event.txt", "{{ event.id }}\n{{ event.no_such_field }}\n")
    templates = Templates.load(tmp_path)
    with pytest.raises(TemplateError) as raised:
        templates.render("email", "event", context(event), locale="en", timezone="Asia/Jakarta")
    [problem] = raised.value.problems
    assert problem.startswith(f"{path}:2: ") and "no_such_field" in problem
    with pytest.raises(TemplateError, match=r"email/event\.txt:2"):
        templates.check()


def test_shipped_templates_pass_the_check(templates: Templates) -> None:
    """Every shipped template renders with sample data in every shipped locale."""
    assert {"en", "id"} <= set(templates.locales())
    assert {"default", "email", "sms"} <= set(templates.channels())
    templates.check()


def test_missing_translations_fall_back_to_english(tmp_path: Path, event: Notification) -> None:
    """A locale without a catalog, or a msgid missing from one, renders in English, never an error."""
    write(tmp_path, "email/event.subject.txt", '{{ _("Not in any catalog") }} / {{ _("Card declined") }}')
    templates = Templates.load(tmp_path)
    fr = templates.render("email", "event", context(event), locale="fr", timezone="Asia/Jakarta")
    assert fr.subject == "Not in any catalog / Card declined"
    assert "150\u202f000\xa0IDR" in fr.text  # French words are missing, French numbers are not
    id_ = templates.render("email", "event", context(event), locale="id", timezone="Asia/Jakarta")
    assert id_.subject == "Not in any catalog / Kartu ditolak"


def test_override_replaces_one_file(tmp_path: Path, event: Notification) -> None:
    """An override folder wins file by file; the other files still come from the defaults."""
    write(tmp_path, "email/event.subject.txt", "ALERT {{ event.reference }}")
    rendered = Templates.load(tmp_path).render("email", "event", context(event), locale="id", timezone="Asia/Jakarta")
    assert rendered.subject == "ALERT INV-2026-0001"
    assert rendered.text.startswith("Kartu ditolak (Peringatan)")
    assert rendered.html is not None and "<table" in rendered.html


def test_plugin_folder_and_default_fallback(tmp_path: Path, event: Notification) -> None:
    """A plugin's folder gives its channel words; a channel with no folder gets default/."""
    write(tmp_path, "chat/event.txt", "{{ _('Card declined') }}: {{ event.reference }}")
    templates = Templates.load(plugin_dirs=[tmp_path])
    chat = templates.render("chat", "event", context(event), locale="id", timezone="Asia/Jakarta")
    assert chat == RenderedText(
        subject="Kartu ditolak: INV-2026-0001 (Rp150.000)", text="Kartu ditolak: INV-2026-0001", html=None
    )
    pager = templates.render("pager", "digest", digest_context(event), locale="en", timezone="Asia/Jakarta")
    assert pager.subject == "200 notifications: Card declined" and pager.html is None
    assert pager.text.startswith('200 notifications matched the rule "errors to ops, folded".')


def test_missing_override_folder_fails_the_load(tmp_path: Path) -> None:
    """A configured templates folder that does not exist is a load error, not a silent default."""
    with pytest.raises(TemplateError, match="templates folder not found"):
        Templates.load(tmp_path / "nope")


@pytest.mark.parametrize("locale", ["en", "id", "en_US", "id-ID", "fr", "pt_BR"])
def test_locale_problem_accepts_babel_locales(locale: str) -> None:
    """Any locale Babel can parse is accepted."""
    assert locale_problem(locale) is None


@pytest.mark.parametrize("locale", ["", "xx", "english", "en_XX_YY_ZZ"])
def test_locale_problem_explains_unknown_locales(locale: str) -> None:
    """A locale Babel cannot parse gets an explanation naming it."""
    assert repr(locale) in (locale_problem(locale) or "")


def test_timezone_problem() -> None:
    """IANA zone names pass; anything else gets an explanation."""
    assert timezone_problem("Asia/Jakarta") is None and timezone_problem("UTC") is None
    assert "Mars/Olympus" in (timezone_problem("Mars/Olympus") or "")
    assert timezone_problem("../../etc/passwd") is not None


def test_digest_in_both_locales(templates: Templates, event: Notification) -> None:
    """A digest shows its count, totals per currency and references in the recipient's locale."""
    en = templates.render("email", "digest", digest_context(event), locale="en", timezone="Asia/Jakarta")
    id_ = templates.render("email", "digest", digest_context(event), locale="id", timezone="Asia/Jakarta")
    assert en.subject == "200 notifications: Card declined"
    assert id_.subject == "200 notifikasi: Kartu ditolak"
    assert '200 notifications matched the rule "errors to ops, folded".' in en.text
    assert "Total: IDR30,000,000, $12.50" in en.text and "Total: Rp30.000.000, US$12,50" in id_.text
    assert "References: INV-2026-0001, INV-2026-0002" in en.text
    assert en.html is not None and "IDR30,000,000<br>$12.50" in en.html


@pytest.mark.parametrize("locale", ["en", "id"])
@pytest.mark.parametrize("code", sorted(TAXONOMY))
def test_sms_fits_one_gsm7_segment(
    templates: Templates, make_notification: Callable[..., Notification], locale: str, code: str
) -> None:
    """Every SMS for a typical event or digest is GSM-7 and at most 160 characters."""
    event = make_notification(code=code, occurred_at=AT, reference="INV-2026-000123", amount=Decimal("12500000.00"))
    for purpose, values in (("event", context(event)), ("digest", digest_context(event))):
        sms = templates.render("sms", purpose, values, locale=locale, timezone="Asia/Jakarta")  # type: ignore[arg-type]
        assert gsm7_length(sms.text) <= 160, sms.text


def test_concurrent_renders_keep_their_own_locale(templates: Templates, event: Notification) -> None:
    """Renders in parallel threads never see each other's locale or catalog."""
    expected = {
        locale: templates.render("email", "event", context(event), locale=locale, timezone="Asia/Jakarta")
        for locale in ("en", "id")
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        locales = ["en", "id"] * 100
        results = list(
            pool.map(
                lambda loc: templates.render("email", "event", context(event), locale=loc, timezone="Asia/Jakarta"),
                locales,
            )
        )
    assert all(result.subject == expected[loc].subject for loc, result in zip(locales, results, strict=True))


def test_default_dir_has_the_shipped_templates() -> None:
    """default_dir() finds the shipped templates, packaged or in the checkout."""
    assert (default_dir() / "email" / "event.txt").is_file()


def test_catalogs_are_up_to_date() -> None:
    """The .pot holds exactly the templates' msgids, and every .po has them all, translated for id."""
    config = configparser.ConfigParser()
    config.read(REPO / "babel.cfg")
    method_map = [(section.split(":", 1)[1].strip(), section.split(":", 1)[0]) for section in config.sections()]
    options_map = {pattern: dict(config[f"{method}: {pattern}"]) for pattern, method in method_map}
    wanted = ("templates", "engine")  # what babel.cfg names; skip the rest of the checkout

    def in_scope(path: str) -> bool:
        relative = Path(path).resolve().relative_to(REPO).parts
        return not relative or relative[0] in wanted

    extracted = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(REPO, method_map, options_map, directory_filter=in_scope)
    }
    locale_dir = REPO / "templates" / "locale"

    def msgids(path: Path) -> set[str]:
        with path.open("rb") as file:
            return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(file) if m.id}

    assert extracted and msgids(locale_dir / "notigate.pot") == extracted, "run pybabel extract (docs/templates.md)"
    for locale in ("en", "id"):
        assert msgids(locale_dir / locale / "LC_MESSAGES" / "notigate.po") == extracted, "run pybabel update"
    with (locale_dir / "id" / "LC_MESSAGES" / "notigate.po").open("rb") as file:
        catalog = read_po(file, locale="id")
    untranslated = [
        m.id for m in catalog if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert untranslated == []
    assert [(m.id, errors) for m, errors in catalog.check()] == []


@pytest.mark.parametrize(
    "expression",
    [
        "event.__class__",
        "event.__init__.__globals__",
        "digest.__struct_fields__",
        "event.metadata.__class__.__subclasses__()",
    ],
)
def test_the_sandbox_refuses_private_attributes(tmp_path: Path, event: Notification, expression: str) -> None:
    """Templates read the event's fields, never Python internals (the sandbox refuses, the render fails)."""
    purpose = "digest" if expression.startswith("digest") else "event"
    write(tmp_path, f"email/{purpose}.txt", f"{{{{ {expression} }}}}\n")
    own = Templates.load(tmp_path)
    with pytest.raises(TemplateError) as raised:
        own.render("email", purpose, digest_context(event), locale="en", timezone="Asia/Jakarta")
    assert "unsafe" in str(raised.value) or "undefined" in str(raised.value), raised.value
