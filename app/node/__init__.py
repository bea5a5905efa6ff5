"""The node: composition root for storage, state, network, consensus and mining (see docs/PROTOCOL.md, Part 6)."""
