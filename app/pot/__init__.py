"""The proof-of-training protocol's rules, imported by the node and the miner alike (issue 15).

Here is what a verifier or validator needs to decide on a receipt and to reproduce its training: the
registry, the training step, blobs and data sets, the proof, challenges, verification, fraud proofs,
disputes, tolerances and aggregation. What only a mining machine runs (its round loop and resume state,
devices, the policy, the worker and the controller) stays in `app.miner`; nothing here imports it.
"""
