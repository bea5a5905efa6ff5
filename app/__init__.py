"""PoT Miner: a desktop client and full network for a proof-of-training blockchain."""

__version__ = "0.1.0"
