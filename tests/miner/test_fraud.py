"""Fraud proofs convict a forged segment of an included receipt, and cannot frame an honest one."""

from __future__ import annotations

import torch

from app.pot import optim
from app.pot.fraud import FraudProof, check_fraud_proof, make_fraud_proof
from app.pot.tensors import decode_tensors, encode_tensors

from .conftest import verifier_for
from .test_verify import resign


def test_forged_segment_is_proven_and_the_proof_round_trips(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    ckpt = decode_tensors(store.get(out.trace.checkpoints[2]))
    forged = {k: v + 0.05 * torch.randn_like(v) if k.startswith(optim.PARAM) else v for k, v in ckpt.items()}
    checkpoints = list(out.trace.checkpoints)
    checkpoints[2] = store.put(encode_tensors(forged))
    bad = resign(out, keys[0], store, checkpoints)
    proof = FraudProof.decode(make_fraud_proof(bad.receipt, 1, bad.trace).encode())
    v = verifier_for(spec, store, data, current_round=5)  # the round is over; the proof still stands
    verdict = check_fraud_proof(proof, v)
    assert (verdict.accepted, verdict.reason) == (True, "fraud-proven"), verdict
    # The segment before the forgery is honest: no proof there.
    assert check_fraud_proof(make_fraud_proof(bad.receipt, 0, bad.trace), v).reason == "segment-correct"


def test_an_honest_receipt_cannot_be_framed(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data)
    for j in range(3):
        assert check_fraud_proof(make_fraud_proof(out.receipt, j, out.trace), v).reason == "segment-correct"
    # Swapping in another checkpoint's opening does not prove against the root.
    wrong = make_fraud_proof(out.receipt, 1, out.trace).replace(end=out.trace.opening(3))
    assert check_fraud_proof(wrong, v).reason == "bad-opening"
    # Out-of-range segment, tampered receipt.
    far = make_fraud_proof(out.receipt, 1, out.trace).replace(segment=7)
    assert check_fraud_proof(far, v).reason == "bad-segment"
    tampered = make_fraud_proof(out.receipt, 1, out.trace)
    tampered = tampered.replace(receipt=tampered.receipt.replace(final_loss_micro=1))
    assert check_fraud_proof(tampered, v).reason == "bad-signature"
