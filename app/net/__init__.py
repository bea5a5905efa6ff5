"""net package of PoT Miner."""
