"""P2P adapters: the libp2p host behind a small port, and the wire encoding of messages.

py-libp2p 0.8.1 imports ``websockets.legacy`` at import time, which emits a
DeprecationWarning (an error under ``-W error`` and in our pytest config). Importing it here,
once, with that one warning ignored keeps every module of this package importable.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated",
                            category=DeprecationWarning)
    import libp2p  # noqa: F401
