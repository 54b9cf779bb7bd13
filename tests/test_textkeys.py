"""kpis.textkeys: one normalisation (NFKC, format characters removed, casefold) for every text key."""

from __future__ import annotations

import unicodedata

import pytest

from kpis import textkeys


def test_nfc_and_nfd_are_one_key_and_stored_in_nfc():
    nfc, nfd = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")
    assert nfc != nfd
    assert textkeys.clean(nfd) == nfc and textkeys.fold(nfc) == textkeys.fold(nfd)
    assert textkeys.same(nfc, nfd)


@pytest.mark.parametrize("hidden", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"])
def test_format_characters_are_removed(hidden):
    assert textkeys.clean(f"EM{hidden}EA") == "EMEA"
    assert textkeys.same("EMEA", f"EMEA{hidden}")
    assert textkeys.confusable(f"EMEA{hidden}")


def test_case_and_compatibility_forms_fold_together():
    assert textkeys.fold(" Maria.Chen@Example.COM ") == "maria.chen@example.com"
    assert textkeys.fold("STRASSE") == textkeys.fold("straße")
    assert textkeys.fold("\u212aim@example.com") == "kim@example.com"  # the Kelvin sign folds to k ...
    assert textkeys.fold("ＥＭＥＡ") == "emea"  # full-width letters


@pytest.mark.parametrize(
    "text, confusable",
    [
        ("kim@example.com", False),
        ("Kim@Example.com", False),  # case alone is not confusable
        (unicodedata.normalize("NFD", "josé@example.com"), False),  # canonical forms are the same text
        ("josé@example.com", False),
        ("\u212aim@example.com", True),  # ... so it is confusable: refused where it would grant a role
        ("ｋim@example.com", True),
        ("kim\u200b@example.com", True),
        ("kim@example.com\x00", True),
        ("ﬁnance@example.com", True),  # the fi ligature
    ],
)
def test_confusable_texts(text, confusable):
    assert textkeys.confusable(text) is confusable


def test_none_matches_nothing():
    assert not textkeys.same(None, None) and not textkeys.same("a", None)
