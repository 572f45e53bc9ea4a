"""Ceremonies over the network: DKG and resharing driven over the ``Transport`` port.

``runner.CeremonyRunner`` drives one participant's sans-IO state machine (``consensus.dkg``)
over direct, acknowledged streams; ``definition`` is the cluster-definition format;
``dkg`` runs a whole DKG for the ``oracle-node dkg`` command; ``rotation`` reshares the key
to a signer set proposed on the governance chain. See docs/ceremony.md.
"""
