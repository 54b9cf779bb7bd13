"""Text keys: the one way names, e-mail addresses, segments and items are compared.

Two texts are the same key when they are equal after Unicode NFKC, with format characters (zero-width
space and joiners, soft hyphen, byte-order mark, bidi controls: Unicode category Cf) removed, and casefold:
"Café" in NFC and NFD, "EMEA" and "EMEA" with a zero-width space, "Maria@Example.com" and
"maria@example.com" are one key each.

Where a key grants something (an e-mail mapped to a role), "the same after normalising" is not enough:
the Kelvin sign in "\u212aim@example.com" folds to "kim@example.com", so such a text is *confusable*
(NFKC or the removal of format characters changes it) and is refused instead of matched.
"""

from __future__ import annotations

import unicodedata

__all__ = ["clean", "confusable", "fold", "same"]


def _strip_format(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def clean(text: str) -> str:
    """The text as it should be stored: NFKC, no format characters, no surrounding whitespace, case kept."""
    return unicodedata.normalize("NFKC", _strip_format(unicodedata.normalize("NFKC", str(text)))).strip()


def fold(text: str) -> str:
    """The comparison key of a text: clean() and casefold (NFKC again, as casefold may denormalise)."""
    return unicodedata.normalize("NFKC", clean(text).casefold())


def same(a: str | None, b: str | None) -> bool:
    """True when both are texts with the same key (None matches nothing)."""
    return a is not None and b is not None and fold(a) == fold(b)


def confusable(text: str) -> bool:
    """True when the text is not what it looks like: a character that NFKC replaces by another (the Kelvin sign,
    the Ohm sign, full-width letters, ligatures, the long s), or a format or control character. A text merely
    in NFD (a letter followed by its combining accent) is not confusable."""
    return any(unicodedata.category(ch) in ("Cf", "Cc") or unicodedata.normalize("NFKC", ch) != ch for ch in str(text))
