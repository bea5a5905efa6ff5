"""miner package of PoT Miner."""
