"""P2P adapters: the libp2p host behind a small port, and the wire encoding of messages."""
