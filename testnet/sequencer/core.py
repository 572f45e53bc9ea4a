"""The testnet sequencer: build blocks from queued deposits and L2 traffic, prove them in a
worker thread, commit and prove them on every chain, execute them once the oracle network
confirmed their final_root there.

Dishonest modes (``SequencerConfig.mode``) misbehave once, at ``dishonest_block``, wait
``recover_after`` seconds (the oracle network must not confirm anything meanwhile), record
what they saw and then recover so that every honest block still ends up executed:

- ``lie-ops``: chain X gets a different opsHash for another chain (its final_root differs);
  recovery reverts the block everywhere and recommits it honestly.
- ``wrong-root``: every chain gets a state root the proof cannot support (proveBlocks reverts);
  recovery reverts and recommits honestly.
- ``skip-proof``: the block is proved on every chain but X; recovery proves it on X.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account
from eth_utils.crypto import keccak

from deploy.bindings import CommitBlock, StoredBlock, stored_block_after
from oracle_node.errors import RollupError
from oracle_node.rollup import hashes
from oracle_node.rollup.block import BlockResult, build_block
from oracle_node.rollup.pubdata import Deposit, FullExit, Op
from oracle_node.rollup.state import RollupParams, State
from testnet.harness.errors import ChainCallError, SequencerError
from testnet.sequencer.config import SequencerConfig
from testnet.sequencer.eventlog import EventLog
from testnet.sequencer.evm import EvmClient
from testnet.sequencer.mainchain import MainChain, PriorityRequest
from testnet.sequencer.traffic import DEPOSIT_TST, DEPOSIT_WEI, L2Mirror, TrafficGenerator

Prove = Callable[[State, BlockResult], bytes]
"""(state before the block, block result) -> 256-byte Groth16 proof."""


class Sequencer:
    """Drives blocks through every chain; :meth:`run` returns after ``max_blocks`` executions."""

    def __init__(self, config: SequencerConfig, prove: Prove, log: EventLog) -> None:
        self.config = config
        self.prove = prove
        self.log = log
        self.chains = {c.rollup_chain_id: MainChain(c.rollup_chain_id, EvmClient(c.rpc_url),
                                                    c.main, c.token) for c in config.chains}
        self.chain_ids = config.chain_ids
        self.state = State(RollupParams(depth=config.depth, capacity=config.capacity))
        self.mirror = L2Mirror()
        self.traffic = TrafficGenerator(self.chain_ids, seed=config.seed)
        self.pending: dict[int, deque[PriorityRequest]] = {c: deque() for c in self.chain_ids}
        genesis = StoredBlock.genesis(hashes.root_to_bytes(self.state.root))
        self.records: dict[int, dict[int, StoredBlock]] = {c: {0: genesis} for c in self.chain_ids}
        self.results: dict[int, BlockResult] = {}
        self.proven: dict[int, int] = dict.fromkeys(self.chain_ids, 0)
        self.executed: dict[int, int] = dict.fromkeys(self.chain_ids, 0)
        self.sync_hash = hashes.ZERO_HASH
        self.block_number = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._confirm_cursor = dict.fromkeys(self.chain_ids, 0)
        self._confirmed: dict[int, dict[int, bytes]] = {c: {} for c in self.chain_ids}
        self._round = 0

    # ---- traffic ----------------------------------------------------------------------

    def _user(self, i: int) -> tuple[str, str]:
        key = self.config.user_keys[i % len(self.config.user_keys)]
        return key, str(Account.from_key(key).address)

    def send_deposits(self) -> None:
        """Queue deposits on ceil(k/2) chains (round robin), alternating ETH and the test token."""
        if not self.config.traffic:
            return
        per_block = max(1, (self.config.capacity + 1) // 2)
        for j in range(per_block):
            n = self._round * per_block + j
            chain = self.chains[self.chain_ids[n % len(self.chain_ids)]]
            key, owner = self._user(n)
            if n % 2 == 0:
                chain.deposit_eth(key, owner, DEPOSIT_WEI)
            else:
                chain.deposit_token(key, owner, DEPOSIT_TST)
            self.log.emit("deposit", chain=chain.rollup_chain_id, owner=owner,
                          token="ETH" if n % 2 == 0 else "TST")
        if self._round % 4 == 3:  # now and then a user asks for a full exit of its ETH
            key, owner = self._user(self._round)
            account = self.mirror.known(bytes.fromhex(owner[2:]))
            if account is not None:
                chain = self.chains[self.chain_ids[self._round % len(self.chain_ids)]]
                chain.request_full_exit(key, account, 1)
                self.log.emit("full_exit_requested", chain=chain.rollup_chain_id,
                              account=account)
        self._round += 1

    def poll_queues(self) -> None:
        """Pull newly queued priority requests of every chain."""
        for cid, chain in self.chains.items():
            self.pending[cid].extend(chain.new_priority_requests())

    def next_ops(self) -> list[Op]:
        """The next block's ops: queued priority requests first (fair across chains), then L2.

        Ops are chosen against a scratch copy of the mirror so that every op is valid after
        the ones before it in the block (a full exit takes the balance left at that point).
        """
        k = self.config.capacity
        ops: list[Op] = []
        shadow = copy.deepcopy(self.mirror)
        limit = max(1, (k + 1) // 2) if self.config.traffic else k
        progressed = True
        while len(ops) < limit and progressed:
            progressed = False
            for cid in self.chain_ids:
                if self.pending[cid] and len(ops) < limit:
                    op = self._priority_op(self.pending[cid].popleft(), shadow)
                    shadow.apply(op)
                    ops.append(op)
                    progressed = True
        if self.config.traffic:
            ops += self.traffic.l2_ops(shadow, k - len(ops), self.block_number + 1)
        return ops

    def _priority_op(self, req: PriorityRequest, shadow: L2Mirror) -> Op:
        if req.kind == "deposit":
            account = self.mirror.account_for(req.owner)
            if shadow.account_for(req.owner) != account:
                raise SequencerError("account id assignment diverged")
            return Deposit(chain_id=req.chain_id, account_id=account, token=req.token,
                           amount=req.amount, owner=req.owner, serial_id=req.serial_id)
        acc = shadow.accounts.get(req.account_id)
        amount = acc.balances.get(req.token, 0) if acc and acc.owner == req.owner else 0
        return FullExit(chain_id=req.chain_id, account_id=req.account_id, token=req.token,
                        amount=amount, owner=req.owner, serial_id=req.serial_id)

    # ---- blocks -----------------------------------------------------------------------

    def build(self, ops: list[Op]) -> tuple[State, BlockResult]:
        """Apply ``ops`` as the next block; return the pre-state (for the prover) and result."""
        before = self.state.copy()
        result = build_block(self.state, ops, self.block_number + 1, self.sync_hash,
                             self.chain_ids)
        for op in result.ops:
            self.mirror.apply(op)
        self.block_number = result.block_number
        self.sync_hash = result.sync_hash
        self.results[result.block_number] = result
        return before, result

    def commit_block(self, result: BlockResult, *, lie_to: int | None = None,
                     root: bytes | None = None) -> None:
        """Commit ``result`` on every chain (optionally lying to ``lie_to`` / posting ``root``)."""
        n = result.block_number
        for cid, chain in self.chains.items():
            ops_hashes = list(result.ops_hashes)
            if cid == lie_to:
                other = next(i for i, c in enumerate(self.chain_ids) if c != cid)
                ops_hashes[other] = keccak(b"a different story" + ops_hashes[other])
            block = CommitBlock(n, root or result.new_state_root_bytes, result.pubdata,
                                tuple(ops_hashes))
            prev = self.records[cid][n - 1]
            tx = chain.commit(self.config.validator_key, prev, block)
            self.records[cid][n] = stored_block_after(prev, block, cid)
            self.log.emit("committed", block=n, chain=cid, gas=tx.gas_used,
                          dishonest=cid == lie_to or root is not None)

    def prove_on(self, cid: int, n: int, proof: bytes) -> bool:
        """proveBlocks on one chain; False (logged) if the contract rejected it."""
        try:
            tx = self.chains[cid].prove(self.config.validator_key, self.records[cid][n],
                                        self.results[n].pubdata, proof)
        except ChainCallError as err:
            self.log.emit("prove_rejected", block=n, chain=cid, error=str(err)[:200])
            return False
        with self._lock:
            self.proven[cid] = n
        self.log.emit("proved", block=n, chain=cid, gas=tx.gas_used,
                      final_root=self.records[cid][n].sync_hash)
        return True

    def revert_block(self, n: int) -> None:
        """Revert block ``n`` (the newest committed) on every chain."""
        for cid, chain in self.chains.items():
            tx = chain.revert(self.config.validator_key, [self.records[cid][n]])
            del self.records[cid][n]
            with self._lock:
                self.proven[cid] = min(self.proven[cid], n - 1)
            self.log.emit("reverted", block=n, chain=cid, gas=tx.gas_used)

    def publish(self, result: BlockResult, proof: bytes) -> None:
        """Commit and prove ``result`` everywhere, misbehaving if this is the dishonest block."""
        n, cfg = result.block_number, self.config
        dishonest = cfg.mode != "honest" and n == cfg.dishonest_block
        if not dishonest:
            self.commit_block(result)
            for cid in self.chain_ids:
                if not self.prove_on(cid, n, proof):
                    raise SequencerError(f"honest block {n} was rejected by chain {cid}")
            return
        target = cfg.target_chain
        self.log.emit("dishonest", block=n, mode=cfg.mode, chain=target)
        if cfg.mode == "lie-ops":
            self.commit_block(result, lie_to=target)
            for cid in self.chain_ids:
                self.prove_on(cid, n, proof)
        elif cfg.mode == "wrong-root":
            wrong = hashes.root_to_bytes((result.new_state_root + 1) % hashes.BN254_R)
            self.commit_block(result, root=wrong)
            for cid in self.chain_ids:
                self.prove_on(cid, n, proof)
        else:  # skip-proof
            self.commit_block(result)
            for cid in self.chain_ids:
                if cid != target:
                    self.prove_on(cid, n, proof)
        self._watch_refusal(n)
        if cfg.mode == "skip-proof":
            self.prove_on(target, n, proof)
        else:
            self.revert_block(n)
            self.commit_block(result)
            for cid in self.chain_ids:
                if not self.prove_on(cid, n, proof):
                    raise SequencerError(f"recommitted block {n} was rejected by chain {cid}")
        self.log.emit("recovered", block=n, mode=cfg.mode)

    def _watch_refusal(self, n: int) -> None:
        deadline = time.monotonic() + self.config.recover_after
        while time.monotonic() < deadline and not self.stop.is_set():
            self.refresh_confirmations()
            if any(n in self._confirmed[c] for c in self.chain_ids):
                break
            time.sleep(0.5)
        confirmed = {c: self._confirmed[c][n].hex() for c in self.chain_ids
                     if n in self._confirmed[c]}
        self.log.emit("dishonest_outcome", block=n, confirmed_on=confirmed,
                      refused=not confirmed, waited_s=self.config.recover_after)

    # ---- execution ----------------------------------------------------------------------

    def refresh_confirmations(self) -> None:
        """Read new ``FinalRootConfirmed`` events of every chain."""
        for cid, chain in self.chains.items():
            head = chain.client.block_number()
            start = self._confirm_cursor[cid]
            if head < start:
                continue
            found = chain.confirmed_roots(start)
            self._confirmed[cid].update(found)
            self._confirm_cursor[cid] = head + 1

    def execute_ready(self) -> None:
        """Execute, on each chain, the next blocks the chain's gate confirmed with its own root.

        A ``FinalRootConfirmed`` for block m confirms every block up to m; the gate's
        ``isConfirmed`` settles blocks that got no event of their own."""
        self.refresh_confirmations()
        for cid, chain in self.chains.items():
            top = max(self._confirmed[cid], default=0)
            while True:
                n = self.executed[cid] + 1
                with self._lock:
                    proven = self.proven[cid]
                record = self.records[cid].get(n)
                if n > min(proven, top) or record is None:
                    break
                if self._confirmed[cid].get(n) != record.sync_hash and \
                        not chain.is_confirmed(n, record.sync_hash):
                    break
                tx = chain.execute(self.config.validator_key, record, self.results[n].pubdata)
                self.executed[cid] = n
                self.log.emit("executed", block=n, chain=cid, gas=tx.gas_used)

    def _executor(self) -> None:
        while not self.stop.is_set():
            try:
                self.execute_ready()
            except ChainCallError as err:
                self.log.emit("error", where="execute", error=str(err)[:300])
            self.stop.wait(0.3)

    def close(self) -> None:
        """Close every chain connection."""
        for chain in self.chains.values():
            chain.client.close()

    def done(self) -> bool:
        """True once ``max_blocks`` blocks are executed on every chain."""
        target = self.config.max_blocks
        return target is not None and min(self.executed.values()) >= target

    def run(self) -> None:
        """Produce blocks until ``max_blocks`` are executed everywhere (or ``stop`` is set)."""
        executor = threading.Thread(target=self._executor, name="executor", daemon=True)
        executor.start()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prover")
        try:
            while not self.stop.is_set() and not self.done():
                target = self.config.max_blocks
                if target is not None and self.block_number >= target:
                    self.stop.wait(0.3)
                    continue
                started = time.monotonic()
                try:
                    self.send_deposits()
                except ChainCallError as err:  # traffic is best effort; blocks go on
                    self.log.emit("error", where="traffic", error=str(err)[:300])
                self.poll_queues()
                ops = self.next_ops()
                try:
                    before, result = self.build(ops)
                except RollupError as err:  # a traffic bug must not stop the chain of blocks
                    self.log.emit("error", where="build", error=str(err)[:300])
                    priority: list[Op] = [op for op in ops
                                          if isinstance(op, Deposit | FullExit)]
                    before, result = self.build(priority)
                self.log.emit("built", block=result.block_number,
                              ops=[type(op).__name__ for op in result.ops if type(op).__name__
                                   != "Noop"], final_root=result.final_root)
                future = pool.submit(self.prove, before, result)
                proof = future.result()
                self.log.emit("proof", block=result.block_number,
                              prove_s=round(time.monotonic() - started, 3))
                self.publish(result, proof)
                self.stop.wait(max(0.0, self.config.block_interval
                                   - (time.monotonic() - started)))
        finally:
            self.stop.set()
            executor.join(timeout=10)
            pool.shutdown(wait=False, cancel_futures=True)
            self.close()
        self.log.emit("finished", executed=self.executed, blocks=self.block_number)
