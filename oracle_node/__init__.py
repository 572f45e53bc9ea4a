"""The light oracle network node: watch proved final roots, re-derive, threshold-sign, confirm."""

__version__ = "0.1.0"
