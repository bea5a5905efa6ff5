"""Chain core: types, canonical encoding, hashing, signatures, Merkle proofs, state, consensus, storage.

Nothing here imports Qt, torch or the network stack.
"""
