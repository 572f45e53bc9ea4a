"""The testnet sequencer: traffic, block building, proving, commit/prove/execute on every chain.

It is tooling (synchronous, threads), not part of the node. Dishonest modes exist so that
scenarios can show the oracle network refuses to sign what it must not sign.
"""
