"""rpc package of PoT Miner."""
