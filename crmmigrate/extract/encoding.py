"""What every text reader needs about encodings: forcing one, and byte-order marks."""

from __future__ import annotations

import codecs

from crmmigrate.errors import BadUsage, did_you_mean

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
COMMON = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1", "cp1251", "gbk", "gb18030", "shift_jis")


def forced_codec(encoding: str) -> str:
    """Python's codec name for an encoding given with --encoding, or a usage error."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        guess = did_you_mean(encoding, COMMON)
        raise BadUsage(
            f"unknown encoding {encoding!r}" + (f" (did you mean {guess!r}?)." if guess else "."),
            hint=f"Common ones: {', '.join(COMMON)}.",
        ) from None


def bom_codec(head: bytes) -> str | None:
    """The codec a byte-order mark at the start of the file names, if there is one."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return None
