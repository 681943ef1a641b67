"""The provider's XML envelope: a flat <xml> of text fields, CDATA or bare.

Parsing goes through defusedxml (no entities, no DTDs): the body comes from the network.
"""

from collections.abc import Mapping

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException


class XmlError(ValueError):
    """The body is not a flat <xml> document."""


def encode(fields: Mapping[str, str]) -> bytes:
    """Render fields as <xml>; values in CDATA (with ]]> split), `sign` last like the SDKs."""
    parts = ["<xml>"]
    for name in sorted(fields, key=lambda n: n == "sign"):
        value = str(fields[name]).replace("]]>", "]]]]><![CDATA[>")
        parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts).encode()


def decode(body: bytes | str) -> dict[str, str]:
    """Parse a flat <xml>; raise XmlError for anything else (HTML, nested, empty)."""
    if isinstance(body, str):
        body = body.encode()
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise XmlError(f"not XML: {exc}") from None
    if root.tag != "xml":
        raise XmlError(f"root element is <{root.tag}>, expected <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            raise XmlError(f"<{child.tag}> is nested; the protocol is flat")
        fields[child.tag] = child.text or ""
    return fields
