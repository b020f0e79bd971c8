"""Stacking relaxation blocks into one LinearModel with readable names."""

from verifier.encode.encoder import EncodedNetwork, block_matrix, encode_network, with_disjunct

__all__ = ["EncodedNetwork", "block_matrix", "encode_network", "with_disjunct"]
