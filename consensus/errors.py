"""Exception hierarchy of the consensus core."""


class ConsensusError(Exception):
    """Root of every exception raised by ``consensus``."""
