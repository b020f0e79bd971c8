"""Stacking relaxation blocks into one LinearModel with readable names."""

from verifier.encode.encoder import EncodedNetwork, encode_network, with_disjunct

__all__ = ["EncodedNetwork", "encode_network", "with_disjunct"]
