"""BIP39 seed phrases: generate, validate with a specific reason, and stretch into the 64-byte seed.

BIP39 (not Electrum's own seed format) so a phrase written down here restores in other tools. Word
lookup and the checksum are checked here rather than through `Mnemonic.check`, which answers only
yes or no; the seed itself comes from the `mnemonic` package (PBKDF2-HMAC-SHA512, 2048 rounds,
salt "mnemonic" + passphrase, NFKD). Error messages name the position of a bad word, never the word.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from mnemonic import Mnemonic

from app.wallet.errors import InvalidMnemonic

WORD_COUNTS = (12, 15, 18, 21, 24)
DEFAULT_WORDS = 24

_ENGLISH = Mnemonic("english")
_INDEX = {word: i for i, word in enumerate(_ENGLISH.wordlist)}


def normalize(phrase: str) -> str:
    """NFKD, lowercase, single spaces: how people type a phrase back in."""
    if not isinstance(phrase, str):
        raise InvalidMnemonic("a seed phrase is text")
    return " ".join(unicodedata.normalize("NFKD", phrase).lower().split())


def generate(words: int = DEFAULT_WORDS) -> str:
    """A new random phrase of `words` words from the OS's secure random source."""
    if words not in WORD_COUNTS:
        raise InvalidMnemonic(f"a seed phrase has 12, 15, 18, 21 or 24 words, not {words}")
    return entropy_to_phrase(secrets.token_bytes(words * 4 // 3))


def entropy_to_phrase(entropy: bytes) -> str:
    if len(entropy) not in (16, 20, 24, 28, 32):
        raise InvalidMnemonic("entropy is 16, 20, 24, 28 or 32 bytes")
    return _ENGLISH.to_mnemonic(entropy)


def phrase_to_entropy(phrase: str) -> bytes:
    """The entropy a phrase encodes; raises `InvalidMnemonic` saying exactly what is wrong."""
    normal = normalize(phrase)
    words = normal.split(" ") if normal else []
    if len(words) not in WORD_COUNTS:
        raise InvalidMnemonic(f"a seed phrase has 12, 15, 18, 21 or 24 words; this one has {len(words)}")
    bits = 0
    for position, word in enumerate(words, start=1):
        index = _INDEX.get(word)
        if index is None:
            raise InvalidMnemonic(f"word {position} is not in the BIP39 English word list (check its spelling)")
        bits = bits << 11 | index
    checksum_bits = len(words) * 11 // 33
    entropy = (bits >> checksum_bits).to_bytes(checksum_bits * 4, "big")
    expected = hashlib.sha256(entropy).digest()[0] >> (8 - checksum_bits)
    if bits & ((1 << checksum_bits) - 1) != expected:
        raise InvalidMnemonic("the seed phrase's checksum is wrong: a word is wrong or the order is changed")
    return entropy


def validate(phrase: str) -> str:
    """The normalised phrase, or `InvalidMnemonic`."""
    phrase_to_entropy(phrase)
    return normalize(phrase)


def to_seed(phrase: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP39 seed of a valid phrase and an optional passphrase ("25th word")."""
    if not isinstance(passphrase, str):
        raise InvalidMnemonic("a passphrase is text")
    return Mnemonic.to_seed(validate(phrase), passphrase)
