"""Pure consensus core: threshold BLS (min-sig), the canonical signing message, DKG, resharing.

Synchronous, deterministic and free of I/O; nothing here imports the node or trio.
"""
