"""Amount parsing and formatting, and signed transfers with address, balance and bound checks."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from app.core.address import encode_address
from app.core.crypto import SigningKey, key_hash
from app.core.encoding import UINT64_MAX
from app.core.errors import InsufficientFunds, InvalidAddress, InvalidSignature
from app.core.types import GRAINS_PER_POT, Transfer
from app.wallet.errors import InvalidAmount
from app.wallet.tx import build_transfer, estimate_fee, format_amount, parse_amount

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = key_hash(SigningKey.from_seed(bytes(32)).public_key)
TO = encode_address(OTHER, "potd")


@pytest.mark.parametrize(
    "text,grains",
    [
        ("1.5 POT", 1_500_000_000),
        ("1.5", 1_500_000_000),
        (" 2 pot ", 2 * GRAINS_PER_POT),
        ("0.000000001 POT", 1),
        (".5", 500_000_000),
        ("7.", 7 * GRAINS_PER_POT),
        ("0", 0),
        ("18446744073.709551615", UINT64_MAX),
    ],
)
def test_parse_amount(text: str, grains: int) -> None:
    assert parse_amount(text) == grains


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("POT", "empty"),
        ("-1", "negative"),
        ("1e3", "not a number"),
        ("1,5", "not a number"),
        ("1.2.3", "not a number"),
        ("0.0000000001", "at most 9 decimals"),
        ("18446744073.709551616", "larger"),
        ("½", "not a number"),
        ("١", "not a number"),  # Arabic-Indic digit: \d would accept it without the ASCII check
    ],
)
def test_parse_amount_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidAmount, match=message):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=UINT64_MAX))
def test_format_parse_round_trip(grains: int) -> None:
    assert parse_amount(format_amount(grains)) == grains


def test_format_amount() -> None:
    assert format_amount(1_500_000_000) == "1.5 POT"
    assert format_amount(0) == "0 POT"
    assert format_amount(1, unit=False) == "0.000000001"
    with pytest.raises(InvalidAmount):
        format_amount(-1)


def test_build_transfer_signs_for_the_chain() -> None:
    tx = build_transfer(KEY, "potd-1", "potd", TO, 10, 2, nonce=5, memo="thanks", balance=12)
    assert isinstance(tx, Transfer)
    assert (tx.recipient, tx.amount, tx.fee, tx.nonce, tx.memo) == (OTHER, 10, 2, 5, "thanks")
    assert tx.sender == KEY.public_key
    tx.verify_signature()
    with pytest.raises(InvalidSignature):
        tx.replace(amount=11).verify_signature()
    assert Transfer.decode(tx.encode()) == tx


def test_insufficient_balance_names_the_numbers() -> None:
    with pytest.raises(InsufficientFunds, match="1 POT plus a fee of 0.5 POT exceeds the balance of 1.2 POT"):
        build_transfer(KEY, "c", "potd", TO, GRAINS_PER_POT, GRAINS_PER_POT // 2, 0, balance=1_200_000_000)


@pytest.mark.parametrize(
    "changes,error,message",
    [
        (dict(recipient=encode_address(OTHER, "pott")), InvalidAddress, "testnet address"),
        (dict(recipient=TO[:-1] + ("q" if TO[-1] != "q" else "p")), InvalidAddress, "checksum"),
        (dict(amount=0), InvalidAmount, "more than zero"),
        (dict(amount=-1), InvalidAmount, "amount must be"),
        (dict(fee=1.5), InvalidAmount, "fee must be"),
        (dict(nonce=UINT64_MAX + 1), InvalidAmount, "nonce must be"),
        (dict(memo="é" * 65), InvalidAmount, "128 bytes"),
    ],
)
def test_bad_transfer_inputs(changes: dict, error: type, message: str) -> None:  # type: ignore[type-arg]
    args = dict(recipient=TO, amount=1, fee=1, nonce=0, memo="")
    args.update(changes)
    with pytest.raises(error, match=message):
        build_transfer(KEY, "c", "potd", **args)  # type: ignore[arg-type]


def test_estimate_fee_grows_with_memo_and_respects_minimum() -> None:
    base = estimate_fee(1)
    assert estimate_fee(1, memo="x" * 100) == base + 100 + 1  # 100 bytes plus a longer length header
    assert estimate_fee(0, minimum=7) == 7
    tx = build_transfer(KEY, "c" * 64, "potd", TO, UINT64_MAX, UINT64_MAX, UINT64_MAX, balance=None)
    assert len(tx.encode()) <= base
