"""wallet package of PoT Miner."""
