"""Human-facing account addresses: bech32m (BIP-350) of the 20-byte key hash, with a network prefix.

An address is `hrp + "1" + data + checksum`, where `data` is the 20-byte `crypto.key_hash` of a public
key regrouped into 32 five-bit characters (no witness version: this is not a Bitcoin script) and the
checksum is the six-character bech32m checksum over the prefix and data. The prefix names the network
("potd" devnet, "pott" testnet), so an address copied from one network is refused on another with a
message that says so, instead of sending coins into an account nobody on this chain controls.

The encoder and decoder are implemented here (they are 60 lines) so that every rule, and the wording of
every refusal, is under the project's control.
"""

from __future__ import annotations

from app.core.crypto import ADDRESS_LEN
from app.core.errors import InvalidAddress

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3
BECH32_CONST = 1
MAX_LENGTH = 90
CHECKSUM_LEN = 6

# Prefixes the app knows, so a foreign one can be named in the error. The chain parameters
# (app/core/params.py) decide which one a node uses; this table only serves error messages.
KNOWN_PREFIXES: dict[str, str] = {"potd": "devnet", "pott": "testnet"}

_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, data: list[int]) -> list[int]:
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * CHECKSUM_LEN) ^ BECH32M_CONST
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LEN)]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup bits; without `pad`, leftover bits must be fewer than `from_bits` and all zero."""
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or (acc << (to_bits - bits)) & maxv:
        raise InvalidAddress("address has non-zero padding bits (not a valid encoding of bytes)")
    return out


def _check_hrp(hrp: str) -> None:
    if not hrp or len(hrp) > 83 or any(not 33 <= ord(c) <= 126 for c in hrp) or hrp != hrp.lower():
        raise ValueError(f"invalid address prefix {hrp!r}: 1-83 lowercase printable ASCII characters")


def bech32m_encode(hrp: str, data5: list[int]) -> str:
    """Encode five-bit groups under `hrp` with a bech32m checksum."""
    _check_hrp(hrp)
    if any(not 0 <= d < 32 for d in data5):
        raise ValueError("bech32m data values must be 5-bit")
    text = hrp + "1" + "".join(CHARSET[d] for d in data5 + _checksum(hrp, data5))
    if len(text) > MAX_LENGTH:
        raise ValueError(f"bech32m string of {len(text)} characters exceeds {MAX_LENGTH}")
    return text


def bech32m_decode(text: str) -> tuple[str, list[int]]:
    """Split and verify a bech32m string; return its (lowercase) prefix and five-bit data."""
    if not isinstance(text, str):
        raise InvalidAddress("an address is text")
    if not text:
        raise InvalidAddress("address is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidAddress(f"address is too long: {len(text)} characters, at most {MAX_LENGTH}")
    for pos, ch in enumerate(text):
        if not 33 <= ord(ch) <= 126:
            raise InvalidAddress(f"address has an invalid character at position {pos + 1}")
    if text.lower() != text and text.upper() != text:
        raise InvalidAddress("address mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise InvalidAddress("address has no network prefix (missing '1' separator)")
    if len(text) - sep - 1 < CHECKSUM_LEN:
        raise InvalidAddress("address is too short to hold a checksum")
    hrp, rest = text[:sep], text[sep + 1 :]
    data: list[int] = []
    for pos, ch in enumerate(rest, start=sep + 2):
        if ch not in _CHARSET_INDEX:
            raise InvalidAddress(f"address has character {ch!r} at position {pos}, not in the bech32 set")
        data.append(_CHARSET_INDEX[ch])
    residue = _polymod(_hrp_expand(hrp) + data)
    if residue == BECH32_CONST:
        raise InvalidAddress("address uses the old bech32 checksum; PoT addresses use bech32m")
    if residue != BECH32M_CONST:
        raise InvalidAddress("address checksum is wrong (a typo, or a character was changed)")
    return hrp, data[:-CHECKSUM_LEN]


def encode_address(account: bytes, hrp: str) -> str:
    """The address of a 20-byte account id (`crypto.key_hash(public_key)`) on the network `hrp`."""
    if not isinstance(account, bytes) or len(account) != ADDRESS_LEN:
        raise ValueError(f"an account id is {ADDRESS_LEN} bytes")
    return bech32m_encode(hrp, _convert_bits(account, 8, 5, pad=True))


def decode_address(text: str, hrp: str) -> bytes:
    """The 20-byte account id in `text`, refusing anything not a valid address of network `hrp`.

    Surrounding whitespace (from copy and paste) is ignored; all-uppercase input (from QR codes) is
    accepted. The checksum is checked before the prefix, so a typo is reported as a typo.
    """
    _check_hrp(hrp)
    if isinstance(text, str):
        text = text.strip()
    found, data = bech32m_decode(text)
    if found != hrp:
        raise InvalidAddress(_foreign_prefix_message(found, hrp))
    account = bytes(_convert_bits(data, 5, 8, pad=False))
    if len(account) != ADDRESS_LEN:
        raise InvalidAddress(f"address holds {len(account)} bytes, an account id is {ADDRESS_LEN}")
    return account


def is_valid_address(text: str, hrp: str) -> bool:
    try:
        decode_address(text, hrp)
        return True
    except InvalidAddress:
        return False


def _foreign_prefix_message(found: str, hrp: str) -> str:
    here = KNOWN_PREFIXES.get(hrp, f"the {hrp!r} network")
    if found in KNOWN_PREFIXES:
        return f"this is a {KNOWN_PREFIXES[found]} address, this wallet is on {here}"
    return f"prefix {found!r} is not a PoT address prefix; this wallet is on {here} (prefix {hrp!r})"
