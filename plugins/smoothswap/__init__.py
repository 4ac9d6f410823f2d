"""The smooth identity embedder LatentSwap trains with (``smoothswap``)."""
