"""ui package of PoT Miner."""
