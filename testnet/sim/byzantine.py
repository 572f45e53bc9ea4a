"""Byzantine members for the in-process cluster (they run no honest pipeline).

Behaviours, per block the sequencer proved (they read the honest root from the sequencer):

* ``invalid``: a well-formed partial whose BLS signature is over another message.
* ``equivocate``: two valid partials for the same (block, epoch): the true root and a wrong one.
* ``wrong_root``: one valid partial over a wrong root (as if it signed a lying chain's root).
* ``garbage``: random bytes, non-canonical CBOR, an oversized payload and a partial naming a
  member index outside the set.
"""

from __future__ import annotations

import random

import cbor2
import trio
from eth_utils.crypto import keccak

from consensus import threshold
from consensus.message import signing_message
from oracle_node.p2p import wire
from oracle_node.ports import Transport
from oracle_node.types import BlockNumber, Epoch, MemberIndex
from testnet.sim.sequencer import SimSequencer

BEHAVIOURS = ("invalid", "equivocate", "wrong_root", "garbage")


class ByzantineMember:
    """Publishes misbehaving partials for every proved block."""

    def __init__(self, *, behaviour: str, share: threshold.KeyShare, transport: Transport,
                 topic: str, sequencer: SimSequencer, network_id: int, epoch: int = 1,
                 seed: int = 0) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self._share = share
        self._transport = transport
        self._topic = topic
        self._sequencer = sequencer
        self._network_id = network_id
        self._epoch = epoch
        self._rng = random.Random(seed)
        self._done: set[int] = set()

    def _partial(self, block: int, root: bytes, signed_root: bytes | None = None,
                 epoch_signed: int | None = None) -> bytes:
        message = signing_message(network_id=self._network_id,
                                  epoch=epoch_signed or self._epoch, block_number=block,
                                  final_root=signed_root or root)
        sig = threshold.partial_sign(self._share, message).signature.to_bytes()
        return wire.encode(wire.PartialMessage(MemberIndex(self._share.index),
                                               BlockNumber(block), root, Epoch(self._epoch),
                                               sig))

    def messages_for(self, block: int, root: bytes) -> list[bytes]:
        """The bytes this member publishes for one block."""
        wrong = keccak(b"wrong" + root)
        if self.behaviour == "invalid":
            return [self._partial(block, root, epoch_signed=self._epoch + 1)]
        if self.behaviour == "equivocate":
            return [self._partial(block, root), self._partial(block, wrong)]
        if self.behaviour == "wrong_root":
            return [self._partial(block, wrong)]
        envelope = {"v": 1, "t": "partial", "from": 999,
                    "body": {"block_number": block, "final_root": root, "epoch": self._epoch,
                             "member": 999, "signature": bytes(48)}}
        return [bytes(self._rng.getrandbits(8) for _ in range(64)),
                cbor2.dumps({"t": "partial", "v": 1}) + b"\x00",
                b"\xa0" * (wire.MAX_MESSAGE_BYTES - 16),
                cbor2.dumps(envelope, canonical=True)]

    async def run(self) -> None:
        """Act on every newly proved block until cancelled."""
        while True:
            await trio.sleep(0.5)
            for block, result in sorted(self._sequencer.results.items()):
                if block in self._done:
                    continue
                self._done.add(block)
                for data in self.messages_for(block, result.final_root):
                    await self._transport.publish(self._topic, data)
