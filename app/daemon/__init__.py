"""daemon package of PoT Miner."""
