"""Prometheus metrics of one node, on their own ``CollectorRegistry``.

Every series carries ``cluster`` (cluster name) and ``peer`` (this node's peer id) labels,
per-chain series a ``chain`` label (rollup chain id). Components receive a
:class:`NodeMetrics` and call its small helpers; docs/metrics.md lists every series.
Adapters count into a :class:`~oracle_node.ports.MetricsSink`: :meth:`NodeMetrics.p2p_sink`
and :meth:`NodeMetrics.chain_sink` in the node, :class:`CountingMetrics` in tests and tools.
"""

from __future__ import annotations

import collections

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from oracle_node.ports import MetricsSink

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0, 300.0)
"""Seconds; step latencies span milliseconds (signing) to minutes (backup submission)."""


class NodeMetrics:
    """All series of one node; ``registry`` is what the HTTP server exposes."""

    def __init__(self, *, cluster: str, peer: str) -> None:
        """Create every series, labelled for ``cluster`` and ``peer``."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.cluster = cluster
        self.peer = peer
        r = self.registry
        base = ["cluster", "peer"]
        self.roots_observed = Counter("oracle_roots_observed_total",
                                      "Proved roots observed per chain", [*base, "chain"],
                                      registry=r)
        self.rederivations = Counter("oracle_rederivations_total",
                                     "Blocks re-derived with the rollup core", base, registry=r)
        self.mismatches = Counter("oracle_root_rejections_total",
                                  "Blocks refused (no signature), by reason", [*base, "reason"],
                                  registry=r)
        self.signed = Counter("oracle_partials_signed_total", "Own partial signatures released",
                              base, registry=r)
        self.slashing_refusals = Counter("oracle_slashing_refusals_total",
                                         "Signatures refused by slashing protection", base,
                                         registry=r)
        self.partials_sent = Counter("oracle_partials_sent_total",
                                     "Partial-signature messages sent (gossip and responses)",
                                     base, registry=r)
        self.partials_received = Counter("oracle_partials_received_total",
                                         "Valid peer partials stored", base, registry=r)
        self.partials_invalid = Counter("oracle_partials_invalid_total",
                                        "Peer messages rejected, by reason", [*base, "reason"],
                                        registry=r)
        self.rerequests = Counter("oracle_partial_rerequests_total",
                                  "want_partials requests sent after the re-request timeout",
                                  base, registry=r)
        self.equivocations = Counter("oracle_equivocations_total",
                                     "Members caught signing two roots for one block/epoch",
                                     base, registry=r)
        self.aggregates = Counter("oracle_aggregates_total", "Group signatures produced", base,
                                  registry=r)
        self.aggregate_failures = Counter("oracle_aggregate_failures_total",
                                          "Combined signatures that failed the group-key check",
                                          base, registry=r)
        self.submissions = Counter("oracle_submissions_total",
                                   "Confirmation outcomes per chain, by status",
                                   [*base, "chain", "status"], registry=r)
        self.gas_used = Counter("oracle_submission_gas_total",
                                "Gas used by this node's confirmFinalRoot transactions",
                                [*base, "chain"], registry=r)
        self.step_latency = Histogram("oracle_step_latency_seconds",
                                      "Latency of each step from the block's last proved event",
                                      [*base, "step"], buckets=LATENCY_BUCKETS, registry=r)
        self.drops = Counter("oracle_drops_total", "Units of work dropped, by reason",
                             [*base, "reason"], registry=r)
        self.block_failures = Counter("oracle_block_failures_total",
                                      "Blocks that missed their deadline, by the one reason",
                                      [*base, "reason"], registry=r)
        self.partial_batches = Counter("oracle_partial_batches_total",
                                       "Batch verifications of peer partials, by outcome",
                                       [*base, "outcome"], registry=r)
        self.p2p_events = Counter("oracle_p2p_events_total",
                                  "Transport events (drops, rejections, deliveries), by reason",
                                  [*base, "event", "reason"], registry=r)
        self.chain_events = Counter("oracle_chain_events_total",
                                    "Chain adapter events (RPC errors, watcher drops, "
                                    "submitter actions), by reason",
                                    [*base, "chain", "event", "reason"], registry=r)
        self.peers = Gauge("oracle_peers", "Connected cluster peers", base, registry=r)
        self.chain_head = Gauge("oracle_chain_head", "Last L1 block seen per chain",
                                [*base, "chain"], registry=r)
        self.last_confirmed = Gauge("oracle_last_confirmed_block",
                                    "Highest rollup block confirmed per chain", [*base, "chain"],
                                    registry=r)

    def p2p_sink(self, name: str, reason: str, amount: int = 1) -> None:
        """The p2p adapters' ``MetricsSink``: counts into ``oracle_p2p_events_total``
        (``event`` = ``name``)."""
        self.inc(self.p2p_events, amount, event=name, reason=reason)

    def chain_sink(self, chain: int) -> MetricsSink:
        """A chain adapters' ``MetricsSink`` for rollup chain ``chain``.

        Counts ``sink(name, reason, amount=1)`` into ``oracle_chain_events_total``.
        """
        def sink(name: str, reason: str, amount: int = 1) -> None:
            self.inc(self.chain_events, amount, chain=chain, event=name, reason=reason)
        return sink

    def _b(self) -> dict[str, str]:
        return {"cluster": self.cluster, "peer": self.peer}

    def inc(self, counter: Counter, amount: float = 1.0, **labels: object) -> None:
        """Increment ``counter`` with this node's base labels plus ``labels``."""
        counter.labels(**self._b(), **{k: str(v) for k, v in labels.items()}).inc(amount)

    def set(self, gauge: Gauge, value: float, **labels: object) -> None:
        """Set ``gauge`` with this node's base labels plus ``labels``."""
        gauge.labels(**self._b(), **{k: str(v) for k, v in labels.items()}).set(value)

    def observe(self, histogram: Histogram, value: float, **labels: object) -> None:
        """Observe ``value`` in ``histogram`` with base labels plus ``labels``."""
        histogram.labels(**self._b(), **{k: str(v) for k, v in labels.items()}).observe(value)

    def value(self, counter: Counter | Gauge, **labels: object) -> float:
        """Current value of one labelled series (0 when never touched); for tests and status."""
        name = counter._name  # prometheus_client has no public accessor
        suffix = "_total" if isinstance(counter, Counter) else ""
        want = {**self._b(), **{k: str(v) for k, v in labels.items()}}
        got = self.registry.get_sample_value(name + suffix, want)
        return 0.0 if got is None else float(got)

    def render(self) -> bytes:
        """The text exposition of every series."""
        return bytes(generate_latest(self.registry))


class CountingMetrics:
    """A ``MetricsSink`` in memory (tests, the p2p runner, debugging):
    ``counts[(name, reason)]`` is the running total."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def __call__(self, name: str, reason: str, amount: int = 1) -> None:
        """Add ``amount`` to ``(name, reason)``."""
        self.counts[(name, reason)] += amount

    def get(self, name: str, reason: str) -> int:
        """The total of ``(name, reason)`` (0 when never counted)."""
        return self.counts[(name, reason)]

    def total(self, name: str) -> int:
        """Sum of ``name`` over all reasons."""
        return sum(v for (n, _r), v in self.counts.items() if n == name)
