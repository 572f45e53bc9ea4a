"""NewTypes for identifiers shared across the node."""

from typing import NewType

RollupChainId = NewType("RollupChainId", int)
"""The rollup's own u8 number for a connected chain (docs/protocol.md §1)."""
EvmChainId = NewType("EvmChainId", int)
"""The EVM chain id the chain reports via ``eth_chainId``."""
BlockNumber = NewType("BlockNumber", int)
"""A rollup block number (1-based)."""
Epoch = NewType("Epoch", int)
"""The key epoch bound into the signing message (docs/protocol.md §6)."""
MemberIndex = NewType("MemberIndex", int)
"""A signer's 1-based share index in the current signer set."""
PeerIdStr = NewType("PeerIdStr", str)
"""A libp2p peer id in its base58 text form."""
Root = NewType("Root", bytes)
"""A 32-byte root (final_root / state root)."""
