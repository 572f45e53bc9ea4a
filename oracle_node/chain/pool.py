"""Several endpoints of one chain as one ``ChainRpc``: health scoring, failover, quorum reads.

* **Health**: per endpoint a latency EWMA, error / timeout / malformed / disagreement counts,
  consecutive errors (3 in a row puts it in a cool-down that doubles up to 60 s) and its last
  reported head (an endpoint more than ``max_head_lag`` behind the best is ranked last).
* **Failover** (everything not signed on: nonces, receipts, fees, calls): endpoints in rank
  order, each call under its own deadline; after a full round, exponential backoff with jitter
  and another round, ``retry.attempts`` rounds in all. A JSON-RPC error object is an answer
  (a revert, "nonce too low") and is raised at once.
* **Quorum** (what the node signs on): ``get_block(int)`` and ``get_logs`` ask every usable
  endpoint concurrently and need ``quorum`` identical answers; a minority that answered
  differently is counted as ``rpc_disagreement``. Heads (``block_number``, ``get_block(tag)``)
  take the k-th highest claim, so one endpoint lying about its head cannot move it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from oracle_node.chain.errors import (
    NoHealthyEndpoint,
    QuorumNotReached,
    RpcRemoteError,
    RpcResponseError,
    RpcTimeout,
    WrongChainId,
)
from oracle_node.chain.rpc import RpcClient
from oracle_node.errors import ChainError
from oracle_node.ports import BlockHeader, LogEntry, MetricsSink, Receipt, discard_metrics

T = TypeVar("T")
_EWMA_ALPHA = 0.2
_ERRORS_BEFORE_COOLDOWN = 3


@dataclass(frozen=True)
class RetryPolicy:
    """Rounds over all endpoints and the backoff between rounds (seconds of trio time)."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 5.0
    jitter: float = 0.5


@dataclass
class EndpointHealth:
    """Running health figures of one endpoint."""

    name: str
    latency_ewma: float = 0.0
    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    malformed: int = 0
    disagreements: int = 0
    consecutive_errors: int = 0
    cooldown: float = 1.0
    down_until: float = float("-inf")
    head: int = 0
    wrong_chain: bool = False


class MultiRpc:
    """``ChainRpc`` over ``endpoints`` (see module docstring); ``quorum`` = k of m."""

    def __init__(self, endpoints: Sequence[RpcClient], *, quorum: int = 1,
                 expected_chain_id: int | None = None, retry: RetryPolicy = RetryPolicy(),
                 max_head_lag: int = 5, metrics: MetricsSink = discard_metrics,
                 rng: random.Random | None = None) -> None:
        if not 1 <= quorum <= len(endpoints):
            raise ValueError(f"quorum {quorum} impossible with {len(endpoints)} endpoints")
        self.endpoints = list(endpoints)
        self.quorum = quorum
        self.expected_chain_id = expected_chain_id
        self.retry = retry
        self.max_head_lag = max_head_lag
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.health = {ep.name: EndpointHealth(ep.name) for ep in self.endpoints}

    # ---- health ----------------------------------------------------------------------------

    def ranked(self) -> list[RpcClient]:
        """Usable endpoints, best first (cooling-down and lagging ones last)."""
        now = trio.current_time()
        best_head = max(h.head for h in self.health.values())

        def key(ep: RpcClient) -> tuple[bool, bool, float]:
            h = self.health[ep.name]
            return (h.down_until > now, best_head - h.head > self.max_head_lag, h.latency_ewma)

        usable = [ep for ep in self.endpoints if not self.health[ep.name].wrong_chain]
        return sorted(usable, key=key)

    async def _timed(self, ep: RpcClient, fn: Callable[[RpcClient], Awaitable[T]]) -> T:
        h = self.health[ep.name]
        start = trio.current_time()
        h.calls += 1
        try:
            result = await fn(ep)
        except RpcRemoteError:
            h.consecutive_errors = 0
            raise
        except ChainError as err:
            reason = ("timeout" if isinstance(err, RpcTimeout)
                      else "malformed" if isinstance(err, RpcResponseError) else "transport")
            h.errors += 1
            h.timeouts += reason == "timeout"
            h.malformed += reason == "malformed"
            h.consecutive_errors += 1
            if h.consecutive_errors >= _ERRORS_BEFORE_COOLDOWN:
                h.down_until = trio.current_time() + h.cooldown
                h.cooldown = min(60.0, h.cooldown * 2)
            self.metrics("rpc_error", reason)
            raise
        elapsed = trio.current_time() - start
        h.latency_ewma = elapsed if h.calls == 1 else (
            _EWMA_ALPHA * elapsed + (1 - _EWMA_ALPHA) * h.latency_ewma)
        h.consecutive_errors = 0
        h.cooldown = 1.0
        return result

    async def _backoff(self, attempt: int) -> None:
        delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** attempt)
        await trio.sleep(delay * (1 + self.retry.jitter * self.rng.random()))

    async def verify_chain_ids(self) -> None:
        """Exclude endpoints reporting another chain id; raise ``WrongChainId`` if none is left."""
        if self.expected_chain_id is None:
            return
        for ep in self.endpoints:
            try:
                got = await self._timed(ep, lambda e: e.chain_id())
            except ChainError:
                continue  # unreachable now; checked again on the next call to this method
            if got != self.expected_chain_id:
                self.health[ep.name].wrong_chain = True
                self.metrics("rpc_error", "wrong_chain_id")
        if all(h.wrong_chain for h in self.health.values()):
            raise WrongChainId(f"no endpoint serves chain id {self.expected_chain_id}")

    # ---- failover and quorum ---------------------------------------------------------------

    async def failover(self, fn: Callable[[RpcClient], Awaitable[T]]) -> T:
        """Run ``fn`` on the best endpoint, falling over and retrying with backoff."""
        last: ChainError | None = None
        for attempt in range(self.retry.attempts):
            for ep in self.ranked():
                try:
                    return await self._timed(ep, fn)
                except RpcRemoteError:
                    raise
                except ChainError as err:
                    last = err
            if attempt + 1 < self.retry.attempts:
                await self._backoff(attempt)
        raise NoHealthyEndpoint(f"every endpoint failed: {last}") from last

    async def gather(self, fn: Callable[[RpcClient], Awaitable[T]]
                     ) -> list[tuple[RpcClient, T | ChainError]]:
        """Run ``fn`` concurrently on every usable endpoint; errors are returned, not raised."""
        results: list[tuple[RpcClient, T | ChainError]] = []

        async def one(ep: RpcClient) -> None:
            try:
                results.append((ep, await self._timed(ep, fn)))
            except ChainError as err:
                results.append((ep, err))

        async with trio.open_nursery() as nursery:
            for ep in self.ranked():
                nursery.start_soon(one, ep)
        return results

    async def agree(self, what: str, fn: Callable[[RpcClient], Awaitable[T]],
                    key: Callable[[T], Hashable]) -> T:
        """The answer at least ``quorum`` endpoints gave identically (with retries)."""
        tally = ""
        for attempt in range(self.retry.attempts):
            groups: dict[Hashable, list[tuple[RpcClient, T]]] = {}
            for ep, res in await self.gather(fn):
                if not isinstance(res, ChainError):
                    groups.setdefault(key(res), []).append((ep, res))
            best = max(groups.values(), key=len, default=[])
            if len(best) >= self.quorum:
                for members in groups.values():
                    if members is not best:
                        for ep, _res in members:
                            self.health[ep.name].disagreements += 1
                            self.metrics("rpc_disagreement", what)
                return best[0][1]
            tally = f"{[len(g) for g in groups.values()]} of {len(self.endpoints)}"
            if attempt + 1 < self.retry.attempts:
                await self._backoff(attempt)
        self.metrics("rpc_error", "quorum_not_reached")
        raise QuorumNotReached(f"{what}: no {self.quorum} endpoints agreed ({tally})")

    async def _kth_highest(self, what: str, fn: Callable[[RpcClient], Awaitable[int | None]]
                           ) -> int | None:
        for attempt in range(self.retry.attempts):
            claims: list[int] = []
            answered = 0
            for ep, res in await self.gather(fn):
                if isinstance(res, ChainError):
                    continue
                answered += 1
                if res is not None:
                    claims.append(res)
                    if what == "head":
                        self.health[ep.name].head = res
            if answered >= self.quorum:
                claims.sort(reverse=True)
                return claims[self.quorum - 1] if len(claims) >= self.quorum else None
            if attempt + 1 < self.retry.attempts:
                await self._backoff(attempt)
        self.metrics("rpc_error", "quorum_not_reached")
        raise QuorumNotReached(f"{what}: fewer than {self.quorum} endpoints answered")

    # ---- ChainRpc ------------------------------------------------------------------------

    async def chain_id(self) -> int:
        """``eth_chainId`` (failover)."""
        return await self.failover(lambda ep: ep.chain_id())

    async def block_number(self) -> int:
        """The k-th highest head any endpoint reports (k = quorum)."""
        head = await self._kth_highest("head", lambda ep: ep.block_number())
        return head or 0

    async def get_block(self, block: int | str) -> BlockHeader | None:
        """A header k endpoints agree on; a tag resolves to the k-th highest claimed height."""
        if isinstance(block, str):
            async def tag_height(ep: RpcClient) -> int | None:
                header = await ep.get_block(block)
                return None if header is None else header.number
            height = await self._kth_highest(f"tag:{block}", tag_height)
            if height is None:
                return None
            block = height
        number = block
        return await self.agree("block", lambda ep: ep.get_block(number),
                                lambda h: None if h is None else (h.number, h.hash))

    async def get_block_by_hash(self, block_hash: bytes) -> BlockHeader | None:
        """``eth_getBlockByHash`` (failover)."""
        return await self.failover(lambda ep: ep.get_block_by_hash(block_hash))

    async def get_logs(
        self, *, address: str, topics: Sequence[Sequence[bytes] | bytes | None],
        from_block: int, to_block: int,
    ) -> list[LogEntry]:
        """Logs k endpoints returned identically."""
        return await self.agree(
            "logs", lambda ep: ep.get_logs(address=address, topics=topics,
                                           from_block=from_block, to_block=to_block),
            tuple)

    async def call(self, *, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """``eth_call`` (failover)."""
        return await self.failover(lambda ep: ep.call(to=to, data=data, block=block))

    async def get_transaction_count(self, address: str, block: int | str = "pending") -> int:
        """``eth_getTransactionCount`` (failover)."""
        return await self.failover(lambda ep: ep.get_transaction_count(address, block))

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        """Broadcast to every usable endpoint; the hash if any accepted it."""
        results = await self.gather(lambda ep: ep.send_raw_transaction(raw))
        for _ep, res in results:
            if not isinstance(res, ChainError):
                return res
        remote = [res for _ep, res in results if isinstance(res, RpcRemoteError)]
        if remote:
            raise remote[0]
        raise NoHealthyEndpoint(f"no endpoint accepted the transaction: {results[:1]}")

    async def get_transaction_receipt(self, tx_hash: bytes) -> Receipt | None:
        """``eth_getTransactionReceipt`` (failover)."""
        return await self.failover(lambda ep: ep.get_transaction_receipt(tx_hash))

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        """``eth_estimateGas`` (failover)."""
        return await self.failover(lambda ep: ep.estimate_gas(tx))

    async def fee_suggestion(self) -> tuple[int, int]:
        """Fee suggestion of the best endpoint (failover)."""
        return await self.failover(lambda ep: ep.fee_suggestion())
