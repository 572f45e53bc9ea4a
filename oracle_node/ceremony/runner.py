"""Drive one participant's DKG / resharing state machine over the ``Transport`` port.

Delivery is reliable, not best effort: a broadcast is one request to each other member on a
direct stream, retried with a growing pause until that member acknowledges it. The receiver
acknowledges only after it fed the message to its state machine **and** persisted the new
state, so an acknowledged message survives the receiver's crash. Phase deadlines come from
trio time (the runner works under ``MockClock``); a phase also ends early once every message
it can still receive has arrived (all deals, all responses, every accused dealer's
justification), so an all-honest ceremony never waits for a timeout. A member that never
answers costs the others the phase timeouts, and is left out if enough dealers qualify.

After a restart the runner is built from the persisted state, re-sends everything the
participant had emitted (peers acknowledge duplicates) and restarts the current phase's timer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
import trio

from consensus.dkg import (
    Deal,
    DkgResult,
    Evidence,
    Justification,
    Participant,
    Phase,
    Response,
    Step,
    decode_message,
)
from consensus.errors import DkgMessageError
from oracle_node.ceremony.errors import CeremonyFailed
from oracle_node.ceremony.state import StateFile
from oracle_node.errors import P2PError
from oracle_node.p2p import wire
from oracle_node.p2p.errors import WireError
from oracle_node.p2p.identity import verify_peer_signature
from oracle_node.ports import Transport
from oracle_node.types import MemberIndex, PeerIdStr

ACK_OK = "ok"
ACK_REJECTED = "rejected"
ACK_RETRY = "retry"
"""Not (yet) in this ceremony or this phase: the sender tries again later. Early messages
are not buffered because an acknowledged message must survive the receiver's crash."""
_PHASE_ORDER = {Phase.DEAL: 0, Phase.RESPONSE: 1, Phase.JUSTIFICATION: 2,
                Phase.FINISHED: 3, Phase.FAILED: 3}
_KIND_PHASE = {"deal": Phase.DEAL, "response": Phase.RESPONSE,
               "justification": Phase.JUSTIFICATION}


def ceremony_protocol(network_id: int) -> str:
    """Request/response protocol id of ceremony messages on network ``network_id``."""
    return f"/zklink-oracle/{network_id}/ceremony/1"


@dataclass(frozen=True)
class PhaseTimeouts:
    """Seconds each phase may last (it ends earlier once complete) and the post-result linger."""

    deal: float = 30.0
    response: float = 30.0
    justification: float = 30.0
    linger: float = 10.0
    """After the result: keep re-sending unacknowledged messages for at most this long."""

    def of(self, phase: Phase) -> float:
        """The timeout of ``phase``."""
        return {Phase.DEAL: self.deal, Phase.RESPONSE: self.response,
                Phase.JUSTIFICATION: self.justification}[phase]


@dataclass(frozen=True)
class Roster:
    """Which peer plays which role: dealer index -> peer, recipient index -> peer."""

    dealers: Mapping[int, PeerIdStr]
    recipients: Mapping[int, PeerIdStr]

    def peers(self) -> set[PeerIdStr]:
        """Every peer taking part."""
        return set(self.dealers.values()) | set(self.recipients.values())


@dataclass(frozen=True)
class Progress:
    """One progress report: a phase started or the ceremony ended (``detail`` says how)."""

    phase: str
    at: float
    detail: str = ""


@dataclass
class RunnerStats:
    """Traffic and rejection counts of one runner (benchmarks, diagnostics)."""

    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    retries: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def _ignore(progress: Progress) -> None:
    return None


class CeremonyRunner:
    """One member's side of one ceremony (see the module docstring)."""

    def __init__(self, *, transport: Transport, participant: Participant, roster: Roster,
                 member: MemberIndex, protocol: str, sign: Callable[[bytes], bytes],
                 state: StateFile | None = None, timeouts: PhaseTimeouts = PhaseTimeouts(),
                 progress: Callable[[Progress], None] = _ignore,
                 request_timeout: float = 5.0, max_backoff: float = 2.0) -> None:
        """``member`` is this node's index in the wire envelope; ``sign`` its identity key."""
        self._transport = transport
        self.participant = participant
        self._roster = roster
        self._member = member
        self._protocol = protocol
        self._sign = sign
        self._state = state
        self.timeouts = timeouts
        self._progress = progress
        self._request_timeout = request_timeout
        self._max_backoff = max_backoff
        me = transport.local_peer
        self._others = sorted(roster.peers() - {me})
        self._outbox: dict[PeerIdStr, list[bytes]] = {p: [] for p in self._others}
        self._wake: dict[PeerIdStr, trio.Event] = {p: trio.Event() for p in self._others}
        self._advance = trio.Event()
        self._deals: set[int] = set()
        self._responses: set[int] = set()
        self._accused: set[int] = set()
        self._justified: set[int] = set()
        self.evidence: list[Evidence] = []
        self.stats = RunnerStats()
        self.done = trio.Event()
        """Set once the state machine finished or failed."""

    # -- results --------------------------------------------------------------------------
    @property
    def result(self) -> DkgResult | None:
        """The ceremony's result once finished."""
        return self.participant.result

    def outcome(self) -> DkgResult:
        """The result, or ``CeremonyFailed`` naming each disqualified dealer and why."""
        if self.participant.result is not None:
            return self.participant.result
        blame = tuple((e.dealer, e.reason, e.detail) for e in self.evidence)
        text = "; ".join(f"dealer {d}: {r}{' (' + x + ')' if x else ''}" for d, r, x in blame)
        raise CeremonyFailed(f"{self.participant.failure or 'ceremony did not finish'}"
                             f"{': ' + text if text else ''}", blame)

    # -- main -----------------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the ceremony to its end, then linger until every peer acknowledged (bounded)."""
        self._transport.set_request_handler(self._protocol, self._handle)
        async with trio.open_nursery() as nursery:
            for peer in self._others:
                nursery.start_soon(self._sender, peer)
            self._begin()
            task_status.started()
            while self.participant.phase not in (Phase.FINISHED, Phase.FAILED):
                phase = self.participant.phase
                self._report(phase.value, self._expectation(phase))
                self._advance = trio.Event()
                self._check_complete()
                with trio.move_on_after(self.timeouts.of(phase)):
                    await self._advance.wait()
                self._apply(self.participant.on_deadline(phase))
            self._report(self.participant.phase.value, self._summary())
            self.done.set()
            with trio.move_on_after(self.timeouts.linger):
                while any(self._outbox.values()):
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()

    def _begin(self) -> None:
        step = self.participant.start()
        if step.rejected is None:
            self._persist()
            self._apply(step, persist=False)
            return
        # restored from a state file: rebuild what arrived before, re-send what we emitted
        for event in cbor2.loads(self.participant.to_bytes())["log"]:
            if event[0] == "msg":
                self._track(bytes(event[1]))
        self._report("resumed", f"phase {self.participant.phase.value}, "
                     f"re-sending {len(self.participant.resend())} messages")
        for out in self.participant.resend():
            self._track(out.data)
            self._broadcast(out.data)

    def _persist(self) -> None:
        if self._state is not None:
            self._state.save(self.participant)

    def _apply(self, step: Step, *, persist: bool = True) -> None:
        if persist:
            self._persist()
        self.evidence.extend(step.evidence)
        for out in step.outgoing:
            self._track(out.data)
            self._broadcast(out.data)

    def _report(self, phase: str, detail: str = "") -> None:
        self._progress(Progress(phase, trio.current_time(), detail))

    def _expectation(self, phase: Phase) -> str:
        if phase is Phase.DEAL:
            return f"deals {len(self._deals)}/{len(self._roster.dealers)}"
        if phase is Phase.RESPONSE:
            return f"responses {len(self._responses)}/{len(self._roster.recipients)}"
        return f"justifications {len(self._justified)}/{len(self._accused)} accused"

    def _summary(self) -> str:
        result = self.participant.result
        if result is None:
            return self.participant.failure or "failed"
        out = (f"qualified {list(result.qualified)}, group key "
               f"0x{result.group_public_key.to_bytes().hex()[:16]}…")
        for ev in result.disqualified:
            out += f"; dealer {ev.dealer} disqualified: {ev.reason}"
        return out

    # -- phase completeness ---------------------------------------------------------------
    def _track(self, data: bytes) -> None:
        """Record an accepted message (ours or a peer's) for the early end of a phase."""
        try:
            msg = decode_message(data)
        except DkgMessageError:
            return
        if isinstance(msg, Deal):
            self._deals.add(msg.dealer)
        elif isinstance(msg, Response):
            self._responses.add(msg.recipient)
            self._accused.update(msg.complaints)
        elif isinstance(msg, Justification):
            self._justified.add(msg.dealer)

    def _check_complete(self) -> None:
        phase = self.participant.phase
        if phase is Phase.DEAL:
            complete = self._deals >= set(self._roster.dealers)
        elif phase is Phase.RESPONSE:
            complete = self._responses >= set(self._roster.recipients)
        elif phase is Phase.JUSTIFICATION:
            complete = (self._accused & self._deals) <= self._justified
        else:
            complete = True
        if complete:
            self._advance.set()

    # -- receiving ------------------------------------------------------------------------
    def _feed(self, data: bytes) -> str:
        step = self.participant.on_message(data)
        if step.rejected is not None:
            self.stats.rejected[step.rejected] += 1
            return step.rejected
        self._track(data)
        self._apply(step)
        self._check_complete()
        return ""

    def _sender_peer(self, data: bytes) -> tuple[PeerIdStr | None, Phase]:
        msg = decode_message(data)
        if isinstance(msg, Response):
            return self._roster.recipients.get(msg.recipient), Phase.RESPONSE
        phase = Phase.DEAL if isinstance(msg, Deal) else Phase.JUSTIFICATION
        return self._roster.dealers.get(msg.dealer), phase

    async def _handle(self, peer: PeerIdStr, request: bytes) -> bytes:
        """Request handler: authenticate, feed, persist, then acknowledge."""
        await trio.lowlevel.checkpoint()
        self.stats.messages_received += 1
        self.stats.bytes_received += len(request)
        reason = self._admit(peer, request)
        if isinstance(reason, tuple):
            phase, payload = reason
            if _PHASE_ORDER[phase] > _PHASE_ORDER[self.participant.phase]:
                return _ack(ACK_RETRY, "early")
            rejected = self._feed(payload)
            return _ack(ACK_REJECTED if rejected else ACK_OK, rejected)
        self.stats.rejected[reason] += 1
        return _ack(ACK_RETRY if reason == "other_ceremony" else ACK_REJECTED, reason)

    def _admit(self, peer: PeerIdStr, request: bytes) -> tuple[Phase, bytes] | str:
        """The (phase, DKG payload) of an authentic request, or a rejection reason."""
        try:
            msg = wire.decode(request)
        except WireError as err:
            return f"wire:{wire.rejection_reason(err)}"
        if not isinstance(msg, wire.CeremonyMessage):
            return "not_a_ceremony_message"
        if msg.ceremony_id != self.participant.config.ceremony_id:
            return "other_ceremony"
        if not wire.verify_ceremony(msg, lambda data, sig: verify_peer_signature(peer, data,
                                                                                   sig)):
            return "bad_envelope_signature"
        try:
            claimed, phase = self._sender_peer(msg.payload)
        except DkgMessageError as err:
            return f"malformed:{err}"
        if claimed != peer:
            return "sender_is_not_the_peer"
        if _KIND_PHASE.get(msg.phase) is not phase:
            return "phase_mismatch"
        return phase, msg.payload

    # -- sending --------------------------------------------------------------------------
    def _broadcast(self, data: bytes) -> None:
        try:
            kind = decode_message(data)
        except DkgMessageError:  # pragma: no cover - our own state machine's output
            return
        phase = ("deal" if isinstance(kind, Deal) else
                 "response" if isinstance(kind, Response) else "justification")
        envelope = wire.sign_ceremony(wire.CeremonyMessage(
            self._member, self.participant.config.ceremony_id, phase, data), self._sign)
        encoded = wire.encode(envelope)
        for peer in self._others:
            self._outbox[peer].append(encoded)
            self._wake[peer].set()

    async def _await_link(self, peer: PeerIdStr) -> None:
        """Give the transport's own dialer a moment before a request dials by itself.

        Measured with 16 processes on 2 loaded cores: requests racing the host's dial loop
        dialled from both ends and failed often (1 526 retries for 2 006 sends, reshare 58 s
        after the last member was up); waiting for the link first: 409 retries, 20 s. A
        request still goes out after ``max_backoff`` if no link shows up.
        """
        with trio.move_on_after(self._max_backoff):
            while peer not in self._transport.connected_peers():
                await trio.sleep(0.1)

    async def _sender(self, peer: PeerIdStr) -> None:
        """Deliver this peer's queue in order, retrying each message until acknowledged."""
        queue = self._outbox[peer]
        failures = 0
        while True:
            if not queue:
                self._wake[peer] = trio.Event()
                await self._wake[peer].wait()
                continue
            data = queue[0]
            await self._await_link(peer)
            self.stats.messages_sent += 1
            self.stats.bytes_sent += len(data)
            try:
                answer = await self._transport.request(peer, self._protocol, data,
                                                       timeout=self._request_timeout)
                status, reason = _parse_ack(answer)
                if status == ACK_RETRY:
                    raise _Retry(reason)
            except (P2PError, _Retry):
                failures += 1
                self.stats.retries += 1
                await trio.sleep(min(self._max_backoff, 0.1 * 2 ** min(failures, 6)))
                continue
            failures = 0
            if status == ACK_REJECTED:
                self.stats.rejected[f"peer:{reason}"] += 1
            queue.pop(0)


class _Retry(Exception):
    """The peer asked us to send again later."""


def _ack(status: str, reason: str) -> bytes:
    return bytes(cbor2.dumps({"s": status, "r": reason}, canonical=True))


def _parse_ack(data: bytes) -> tuple[str, str]:
    try:
        obj = cbor2.loads(data)
        return str(obj["s"]), str(obj["r"])
    except Exception:  # a garbled acknowledgement still proves delivery; count it as such
        return ACK_REJECTED, "unreadable_ack"
