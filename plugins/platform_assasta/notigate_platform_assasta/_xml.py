"""Reading ASSASTA's XML safely: size-bounded, defused, in the encoding the prolog declares.

The bytes go to the parser undecoded, so expat honours ``encoding="ISO-8859-1"`` (and
rejects a prolog that lies about it). DTDs are refused outright, which also refuses
every entity declaration (billion laughs) and external entity (``file:///etc/passwd``)
before any of it is expanded or fetched.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from notigate import PlatformInputError

ROOT = "assasta"
ECHOED = ("trx_id", "merchant_id", "bill_no")
MAX_ECHO = 128
MAX_DEPTH = 8
XML_WHITESPACE = " \t\r\n"
TOO_DEEP = "[nested deeper than 8 elements; omitted]"
# Characters XML 1.0 cannot carry, even escaped (control characters, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def read(body: bytes, max_size: int) -> Element:
    """The ``<assasta>`` root of ``body``; PlatformInputError (400) for anything else.

    Never raises another exception, whatever the bytes: the parser's own errors
    (syntax, encodings, DTDs) are translated here, at the boundary.
    """
    if len(body) > max_size:
        raise PlatformInputError(f"body is {len(body)} bytes; at most {max_size} bytes are accepted")
    if not body.strip():
        raise PlatformInputError("body is empty; an <assasta> XML document is expected")
    try:
        root: Element = safe_et.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise PlatformInputError("XML with a DTD, entity declarations or external references is refused") from None
    except ParseError as exc:  # expat's message names the problem and its position, never the content
        raise PlatformInputError(f"body is not well-formed XML: {str(exc)[:200]}") from None
    except (LookupError, ValueError):  # unknown or multi-byte declared encoding
        raise PlatformInputError("the declared encoding is not supported; use UTF-8 or ISO-8859-1") from None
    except Exception:  # anything else the parser may raise is still the sender's problem
        raise PlatformInputError("body is not well-formed XML") from None
    if root.tag != ROOT:
        raise PlatformInputError(f"the root element must be <{ROOT}>, got <{xml_safe(str(root.tag))[:64]}>")
    return root


def children(root: Element) -> dict[str, list[Element]]:
    """The root's child elements by tag, in document order (repeats kept for the caller to judge)."""
    out: dict[str, list[Element]] = {}
    for child in root:
        out.setdefault(str(child.tag), []).append(child)
    return out


def text(element: Element) -> str:
    """An element's own text without surrounding XML whitespace (pretty-printed senders).

    Only XML's own whitespace is trimmed: a no-break space belongs to the value.
    """
    return (element.text or "").strip(XML_WHITESPACE)


def to_metadata(element: Element, depth: int = 1) -> Any:
    """A leaf is its text; an element with children a dict of them (repeats become lists).

    Depth is bounded so that a deeply nested unknown element cannot exhaust recursion.
    """
    if len(element) == 0:
        return text(element)
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in element:
        value, tag = to_metadata(child, depth + 1), str(child.tag)
        if tag not in out:
            out[tag] = value
        elif tag in repeated:
            out[tag].append(value)
        else:
            out[tag] = [out[tag], value]
            repeated.add(tag)
    return out


def echo(body: bytes, max_size: int) -> dict[str, str]:
    """``trx_id``, ``merchant_id`` and ``bill_no`` as far as they can be read; never raises.

    Values are the first occurrence of each, XML-safe and at most 128 characters; a
    body that is not an ``<assasta>`` document echoes nothing.
    """
    try:
        found = children(read(body, max_size))
        return {name: xml_safe(text(found[name][0]))[:MAX_ECHO] for name in ECHOED if name in found}
    except Exception:
        return {}


def xml_safe(value: str) -> str:
    """``value`` without the characters no XML 1.0 document can hold."""
    return _NOT_XML.sub("", value)
