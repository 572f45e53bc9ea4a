"""A sans-IO joint-Feldman DKG / resharing participant (drand-style phases).

Inputs: :meth:`Participant.start`, :meth:`Participant.on_message` (bytes from a peer, already
authenticated as coming from the member it names), :meth:`Participant.on_deadline` (the
current phase's deadline passed). Outputs: :class:`Step` values with messages to broadcast,
rejection reasons, disqualification evidence and finally a :class:`DkgResult`.
Bad peer input never raises: it is rejected (state unchanged) or turned into evidence.

Phases: DEAL (dealers broadcast commitments + encrypted shares; recipients check theirs) →
RESPONSE (recipients broadcast complaints) → JUSTIFICATION (accused dealers reveal the
disputed shares) → FINISHED (qualified set, group key, shares). The protocol assumes that the
broadcast is reliable within a phase; the cluster lock's hash catches any divergence.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2

from consensus.bls import CURVE_ORDER, PublicKey, SecretKey
from consensus.bls.registry import resolve
from consensus.dkg import ecies
from consensus.dkg.config import (
    CeremonyConfig,
    DkgResult,
    Evidence,
    Outgoing,
    Phase,
    Step,
)
from consensus.dkg.feldman import deal_problem, failing_shares, share_matches
from consensus.dkg.messages import (
    Deal,
    Justification,
    Response,
    decode_message,
    encode_message,
)
from consensus.errors import DkgError, DkgMessageError, DkgStateError
from consensus.threshold import (
    KeyShare,
    eval_polynomial,
    lagrange_at_zero,
    public_share_from_commitments,
)

_STATE_VERSION = 1


def _aad(ceremony_id: bytes, dealer: int, recipient: int) -> bytes:
    return ceremony_id + dealer.to_bytes(2, "big") + recipient.to_bytes(2, "big")


class Participant:
    """One member's view of a ceremony; see the module docstring."""

    def __init__(self, config: CeremonyConfig, *, seed: bytes, dealer_index: int | None = None,
                 recipient_index: int | None = None,
                 encryption_keys: ecies.EncryptionKeyPair | None = None,
                 secret: SecretKey | None = None, backend: str = "arkworks") -> None:
        if dealer_index is not None and dealer_index not in config.dealers:
            raise DkgError(f"{dealer_index} is not a dealer of this ceremony")
        if recipient_index is not None:
            member = config.recipient(recipient_index)
            if member is None or encryption_keys is None \
                    or member.encryption_key != encryption_keys.public:
                raise DkgError("recipient needs the encryption key pair named in the config")
        if (config.reshare is not None) and dealer_index is not None and secret is None:
            raise DkgError("a resharing dealer needs its old secret share")
        if len(seed) < 32:
            raise DkgError("seed must be at least 32 secret random bytes")
        self.config = config
        self.dealer_index = dealer_index
        self.recipient_index = recipient_index
        self._keys = encryption_keys
        self._secret = secret
        self._seed = bytes(seed)
        self._backend_name = backend
        self._impl = resolve(backend)
        self.phase = Phase.DEAL
        self._log: list[list[Any]] = []
        self._sent: list[Outgoing] = []
        self._deals: dict[int, Deal] = {}
        self._deal_bytes: dict[int, bytes] = {}
        self._bad: dict[int, Evidence] = {}
        self._my_shares: dict[int, int] = {}
        self._my_complaints: set[int] = set()
        self._complaints: dict[int, set[int]] = {}
        self._responded: set[int] = set()
        self._justifications: dict[int, Justification] = {}
        self._started = False
        self.result: DkgResult | None = None
        self.failure: str | None = None

    # ---- randomness -------------------------------------------------------------------------
    def _scalar(self, label: bytes, k: int) -> int:
        digest = hashlib.sha512(b"dkg/" + label + k.to_bytes(4, "big") + self.config.ceremony_id
                                + self._seed).digest()
        return int.from_bytes(digest, "big") % (CURVE_ORDER - 1) + 1

    def _polynomial(self) -> list[int]:
        coefficients = [self._scalar(b"coef", k) for k in range(self.config.threshold)]
        if self.config.reshare is not None:
            assert self._secret is not None
            coefficients[0] = self._secret.value
        return coefficients

    # ---- inputs -----------------------------------------------------------------------------
    def start(self) -> Step:
        """Begin the ceremony: a dealer broadcasts its deal. Call once, in the DEAL phase."""
        if self._started or self.phase is not Phase.DEAL:
            return Step(rejected="already started")
        self._started = True
        self._log.append(["start"])
        if self.dealer_index is None:
            return Step()
        coefficients = self._polynomial()
        commitments = tuple(self._impl.g2_generator_mul(c) for c in coefficients)
        shares = []
        for member in self.config.recipients:
            value = eval_polynomial(coefficients, member.index).to_bytes(32, "big")
            shares.append((member.index, ecies.encrypt(
                member.encryption_key, value,
                _aad(self.config.ceremony_id, self.dealer_index, member.index),
                self._scalar(b"eph", member.index), backend=self._impl)))
        data = encode_message(Deal(self.config.ceremony_id, self.dealer_index, commitments,
                                   tuple(shares)))
        step = self._apply(data, own=True)
        return self._emit(Step(evidence=step.evidence), data)

    def on_message(self, data: bytes) -> Step:
        """Handle one message from a peer; a bad one yields ``Step(rejected=reason)``."""
        if self.phase in (Phase.FINISHED, Phase.FAILED):
            return Step(rejected="ceremony is over")
        try:
            step = self._apply(data)
        except DkgMessageError as err:
            return Step(rejected=str(err))
        if step.rejected is None:
            self._log.append(["msg", bytes(data)])
        return step

    def on_deadline(self, phase: Phase) -> Step:
        """The deadline of ``phase`` passed; ignored unless it is the current phase."""
        if phase is not self.phase:
            return Step(rejected=f"deadline for {phase.value} but phase is {self.phase.value}")
        self._log.append(["deadline", phase.value])
        return self._advance()

    def resend(self) -> list[Outgoing]:
        """Every message this participant has emitted (re-broadcast after a restart)."""
        return list(self._sent)

    # ---- message handling ---------------------------------------------------------------------
    def _emit(self, step: Step, data: bytes) -> Step:
        out = Outgoing(None, data)
        self._sent.append(out)
        return Step(outgoing=(*step.outgoing, out), evidence=step.evidence, result=step.result,
                    failure=step.failure)

    def _apply(self, data: bytes, *, own: bool = False) -> Step:
        msg = decode_message(data)
        if msg.ceremony_id != self.config.ceremony_id:
            return Step(rejected="message of another ceremony")
        sender = msg.recipient if isinstance(msg, Response) else msg.dealer
        me = self.recipient_index if isinstance(msg, Response) else self.dealer_index
        if sender == me and not own:
            return Step(rejected="a peer's message claims to come from this participant")
        if isinstance(msg, Deal):
            return self._on_deal(msg, bytes(data))
        if isinstance(msg, Response):
            return self._on_response(msg)
        return self._on_justification(msg)

    def _on_deal(self, deal: Deal, data: bytes) -> Step:
        dealer = deal.dealer
        if dealer not in self.config.dealers:
            return Step(rejected=f"{dealer} is not a dealer")
        if self.phase is not Phase.DEAL:
            return Step(rejected="deal after the deal phase")
        if dealer in self._deal_bytes:
            if self._deal_bytes[dealer] == data or dealer in self._bad:
                return Step(rejected="duplicate deal")
            evidence = Evidence(dealer, "equivocation", "two different deals: " + ", ".join(
                hashlib.sha256(d).hexdigest() for d in (self._deal_bytes[dealer], data)))
            self._bad[dealer] = evidence
            self._deals.pop(dealer, None)
            self._my_shares.pop(dealer, None)
            self._my_complaints.discard(dealer)
            return Step(evidence=(evidence,))
        self._deal_bytes[dealer] = data
        problem = deal_problem(self.config, self._impl, deal)
        if problem is not None:
            self._bad[dealer] = Evidence(dealer, "invalid_deal", problem)
            return Step(evidence=(self._bad[dealer],))
        self._deals[dealer] = deal
        if self.recipient_index is not None:
            share = self._decrypt_share(deal)
            if share is None:
                self._my_complaints.add(dealer)
            else:
                self._my_shares[dealer] = share
        return Step()

    def _decrypt_share(self, deal: Deal) -> int | None:
        """My share from ``deal`` (not yet checked against the commitments) or ``None``."""
        assert self._keys is not None
        assert self.recipient_index is not None
        ciphertext = dict(deal.encrypted_shares)[self.recipient_index]
        plain = ecies.decrypt(self._keys, ciphertext, _aad(
            self.config.ceremony_id, deal.dealer, self.recipient_index), backend=self._impl)
        if plain is None:
            return None
        value = int.from_bytes(plain, "big")
        return value if 0 < value < CURVE_ORDER else None

    def _check_my_shares(self) -> None:
        """Move shares that fail the Feldman check into complaints."""
        if self.recipient_index is None:
            return
        for dealer in failing_shares(self._impl, self.recipient_index, self._my_shares,
                                     self._deals, self._seed):
            del self._my_shares[dealer]
            self._my_complaints.add(dealer)

    def _on_response(self, response: Response) -> Step:
        if self.config.recipient(response.recipient) is None:
            return Step(rejected=f"{response.recipient} is not a recipient")
        if self.phase not in (Phase.DEAL, Phase.RESPONSE):
            return Step(rejected="response after the response phase")
        if response.recipient in self._responded:
            return Step(rejected="duplicate response")
        if not set(response.complaints) <= set(self.config.dealers):
            return Step(rejected="complaint against a non-dealer")
        self._responded.add(response.recipient)
        for dealer in response.complaints:
            self._complaints.setdefault(dealer, set()).add(response.recipient)
        return Step()

    def _on_justification(self, justification: Justification) -> Step:
        if justification.dealer not in self.config.dealers:
            return Step(rejected=f"{justification.dealer} is not a dealer")
        if self.phase not in (Phase.RESPONSE, Phase.JUSTIFICATION):
            return Step(rejected="justification outside the justification window")
        if justification.dealer in self._justifications:
            return Step(rejected="duplicate justification")
        self._justifications[justification.dealer] = justification
        return Step()

    # ---- phase transitions ------------------------------------------------------------------
    def _advance(self) -> Step:
        if self.phase is Phase.DEAL:
            self.phase = Phase.RESPONSE
            if self.recipient_index is None:
                return Step()
            self._check_my_shares()
            data = encode_message(Response(self.config.ceremony_id, self.recipient_index,
                                           tuple(sorted(self._my_complaints))))
            self._apply(data, own=True)
            return self._emit(Step(), data)
        if self.phase is Phase.RESPONSE:
            self.phase = Phase.JUSTIFICATION
            dealer = self.dealer_index
            accused = sorted(self._complaints.get(dealer, ())) if dealer is not None else []
            if dealer is None or not accused or dealer not in self._deals:
                return Step()
            coefficients = self._polynomial()
            data = encode_message(Justification(self.config.ceremony_id, dealer, tuple(
                (j, eval_polynomial(coefficients, j).to_bytes(32, "big")) for j in accused)))
            self._apply(data, own=True)
            return self._emit(Step(), data)
        return self._finish()

    def _qualify(self) -> tuple[list[int], list[Evidence]]:
        qualified, evidence = [], []
        for dealer in self.config.dealers:
            if dealer in self._bad:
                evidence.append(self._bad[dealer])
                continue
            deal = self._deals.get(dealer)
            if deal is None:
                evidence.append(Evidence(dealer, "missing_deal"))
                continue
            revealed = dict(self._justifications[dealer].revealed) \
                if dealer in self._justifications else {}
            problem = None
            for j in sorted(self._complaints.get(dealer, ())):
                if j not in revealed:
                    problem = Evidence(dealer, "unjustified_complaint", f"recipient {j}")
                elif not share_matches(self._impl, deal, j, int.from_bytes(revealed[j], "big")):
                    problem = Evidence(dealer, "bad_justification", f"recipient {j}")
                if problem is not None:
                    break
            if problem is not None:
                evidence.append(problem)
                continue
            mine = self.recipient_index
            if mine is not None and dealer in self._my_complaints \
                    and mine in self._complaints.get(dealer, ()):
                # my complaint was checked above: the revealed share matches the commitments
                self._my_shares[dealer] = int.from_bytes(revealed[mine], "big")
            qualified.append(dealer)
        return qualified, evidence

    def _finish(self) -> Step:
        qualified, evidence = self._qualify()
        reshare = self.config.reshare
        needed = self.config.threshold if reshare is None else reshare.old_threshold
        if len(qualified) < needed:
            self.phase = Phase.FAILED
            self.failure = f"only {len(qualified)} qualified dealers, need {needed}"
            return Step(evidence=tuple(evidence), failure=self.failure)
        used = qualified if reshare is None else qualified[:needed]
        weights = [1] * len(used) if reshare is None else lagrange_at_zero(used)
        commitments = tuple(PublicKey(self._impl.g2_lincomb(
            [self._deals[d].commitments[k] for d in used], weights))
            for k in range(self.config.threshold))
        group_key = commitments[0]
        if reshare is not None and group_key != reshare.group_public_key:
            self.phase = Phase.FAILED
            self.failure = "resharing changed the group key"
            return Step(evidence=tuple(evidence), failure=self.failure)
        public_shares = tuple(public_share_from_commitments(commitments, m.index,
                                                            backend=self._impl)
                              for m in self.config.recipients)
        share = None
        if self.recipient_index is not None:
            value = sum(w * self._my_shares[d] for w, d in zip(weights, used, strict=True))
            share = KeyShare(self.recipient_index, SecretKey(value % CURVE_ORDER))
        self.phase = Phase.FINISHED
        self.result = DkgResult(group_key, commitments, self.config.threshold, share,
                                public_shares, tuple(qualified), tuple(evidence))
        return Step(evidence=tuple(evidence), result=self.result)

    # ---- persistence ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise (canonical CBOR): config, own secrets and the log of accepted inputs.

        The bytes contain secrets (seed, encryption key, old share): store them encrypted.
        """
        return bytes(cbor2.dumps({
            "v": _STATE_VERSION, "config": self.config.to_obj(), "seed": self._seed,
            "dealer": self.dealer_index, "recipient": self.recipient_index,
            "enc": None if self._keys is None else self._keys.secret.to_bytes(32, "big"),
            "secret": None if self._secret is None else self._secret.to_bytes(),
            "backend": self._backend_name, "log": self._log}, canonical=True))

    @classmethod
    def from_bytes(cls, data: bytes) -> Participant:
        """Restore a participant by replaying its logged inputs; raises ``DkgStateError``."""
        try:
            obj = cbor2.loads(data)
            if obj["v"] != _STATE_VERSION:
                raise DkgStateError(f"unknown state version {obj['v']!r}")
            config = CeremonyConfig.from_obj(obj["config"])
            backend = resolve(str(obj["backend"]))
            keys = None
            if obj["enc"] is not None:
                secret = int.from_bytes(obj["enc"], "big")
                keys = ecies.EncryptionKeyPair(secret, backend.g1_generator_mul(secret))
            old = None if obj["secret"] is None else SecretKey.from_bytes(obj["secret"])
            participant = cls(config, seed=obj["seed"], dealer_index=obj["dealer"],
                              recipient_index=obj["recipient"], encryption_keys=keys,
                              secret=old, backend=str(obj["backend"]))
            for event in obj["log"]:
                if event[0] == "start":
                    participant.start()
                elif event[0] == "msg":
                    participant.on_message(event[1])
                else:
                    participant.on_deadline(Phase(event[1]))
        except DkgStateError:
            raise
        except Exception as err:  # any corruption of the stored state is one typed error
            raise DkgStateError(f"cannot restore DKG state: {type(err).__name__}: {err}") from err
        return participant
