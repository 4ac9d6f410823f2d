"""Import of the official LatentSwap mixer checkpoints."""
