"""The node: composition root for storage, state, network, consensus and mining (see docs/spec/node.md)."""
