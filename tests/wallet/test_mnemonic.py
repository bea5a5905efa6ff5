"""BIP39: official English vectors, generation, and a specific error for every bad phrase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from app.wallet import mnemonic
from app.wallet.errors import InvalidMnemonic

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "bip39-english-vectors.json").read_text())


@pytest.mark.parametrize("entropy,phrase,seed", VECTORS["english"])
def test_official_vectors(entropy: str, phrase: str, seed: str) -> None:
    assert mnemonic.entropy_to_phrase(bytes.fromhex(entropy)) == phrase
    assert mnemonic.phrase_to_entropy(phrase) == bytes.fromhex(entropy)
    assert mnemonic.to_seed(phrase, VECTORS["passphrase"]).hex() == seed


def test_vector_file_is_the_expected_one() -> None:
    assert VECTORS["passphrase"] == "TREZOR" and len(VECTORS["english"]) == 4


def test_official_24_word_vector() -> None:
    # BIP39's vector for 32 zero bytes of entropy, passphrase "TREZOR".
    phrase = "abandon " * 23 + "art"
    assert mnemonic.entropy_to_phrase(bytes(32)) == phrase.strip()
    assert mnemonic.to_seed(phrase, "TREZOR").hex() == (
        "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd30971"
        "70af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"
    )


@pytest.mark.parametrize("words", mnemonic.WORD_COUNTS)
def test_generate_gives_valid_phrases_of_each_length(words: int) -> None:
    phrase = mnemonic.generate(words)
    assert len(phrase.split()) == words
    assert mnemonic.validate(phrase) == phrase
    assert mnemonic.generate(words) != phrase


@settings(max_examples=30)
@given(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
def test_entropy_round_trip(entropy: bytes) -> None:
    assert mnemonic.phrase_to_entropy(mnemonic.entropy_to_phrase(entropy)) == entropy


def test_typing_variations_are_normalised() -> None:
    phrase = VECTORS["english"][0][1]
    messy = "  " + phrase.upper().replace(" ", "   \n") + " "
    assert mnemonic.validate(messy) == phrase
    assert mnemonic.to_seed(messy, "TREZOR").hex() == VECTORS["english"][0][2]


def test_passphrase_changes_the_seed() -> None:
    phrase = VECTORS["english"][0][1]
    assert mnemonic.to_seed(phrase) != mnemonic.to_seed(phrase, "TREZOR")


def test_bad_checksum() -> None:
    phrase = "abandon " * 11 + "abandon"
    with pytest.raises(InvalidMnemonic, match="checksum is wrong"):
        mnemonic.validate(phrase)


def test_swapped_words_fail_the_checksum() -> None:
    words = VECTORS["english"][2][1].split()
    words[0], words[1] = words[1], words[0]
    with pytest.raises(InvalidMnemonic, match="checksum"):
        mnemonic.validate(" ".join(words))


def test_unknown_word_names_position_not_word() -> None:
    words = VECTORS["english"][0][1].split()
    words[4] = "bitcoinz"
    with pytest.raises(InvalidMnemonic, match="word 5 is not in the BIP39") as info:
        mnemonic.validate(" ".join(words))
    assert "bitcoinz" not in str(info.value)


@pytest.mark.parametrize("count", [0, 1, 11, 13, 25])
def test_wrong_word_count(count: int) -> None:
    with pytest.raises(InvalidMnemonic, match=f"this one has {count}"):
        mnemonic.validate(" ".join(["abandon"] * count))


@pytest.mark.parametrize("bad", [None, 12, b"abandon"])
def test_non_text(bad: object) -> None:
    with pytest.raises(InvalidMnemonic, match="is text"):
        mnemonic.validate(bad)  # type: ignore[arg-type]


def test_bad_generate_arguments() -> None:
    with pytest.raises(InvalidMnemonic):
        mnemonic.generate(13)
    with pytest.raises(InvalidMnemonic):
        mnemonic.entropy_to_phrase(bytes(15))
    with pytest.raises(InvalidMnemonic):
        mnemonic.to_seed(VECTORS["english"][0][1], None)  # type: ignore[arg-type]
