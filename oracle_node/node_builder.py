"""The real node's adapters, built from its config (``oracle-node run``).

:func:`build_node` loads the keys and the cluster lock, connects every chain and returns the
:class:`NodeDeps` for :func:`oracle_node.app.run_node` plus what the caller needs to run the
host and the health endpoint. It opens no channel: :func:`oracle_node.app.run_from_config`
opens the rotation channel and hands it to :func:`rotation_wiring`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account import Account
from libp2p.crypto.keys import KeyPair

from consensus.lock import ClusterLock
from consensus.threshold import KeyShare
from oracle_node.ceremony.rotation import RotationEvent, SignerSetRotation
from oracle_node.chain.cursor import MemoryCursorStore
from oracle_node.chain.ledger import NonceLedger
from oracle_node.chain.pool import MultiRpc
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.submitter import FeePolicy, Submitter
from oracle_node.chain.watcher import FinalityRule
from oracle_node.config import GovernanceConfig, NodeConfig
from oracle_node.errors import ChainError, ConfigError
from oracle_node.keys import (
    BLS_SHARE_FILE,
    IDENTITY_FILE,
    TX_KEY_FILE,
    load_lock,
    load_share,
    read_keystore,
    scheme_from_lock,
)
from oracle_node.metrics import NodeMetrics
from oracle_node.multiaddr import parse_tcp_multiaddr
from oracle_node.node_deps import ChainWiring, NodeDeps, RotationWiring, Timing, lock_peers
from oracle_node.p2p.host import HostConfig, Libp2pTransport
from oracle_node.p2p.identity import identity_from_bytes, peer_id_of
from oracle_node.pipeline.senders import SubmitterConfirmationSender
from oracle_node.replay import RollupReplayer, genesis_state_root, rollup_params
from oracle_node.store.db import NodeStore
from oracle_node.types import Epoch, PeerIdStr, RollupChainId

# Startup outcomes keep the wiring module's logger name (operators filter logs on it).
log = logging.getLogger("oracle_node.app")


@dataclass
class BuiltNode:
    """A node's adapters, built but not started."""

    deps: NodeDeps
    transport: Libp2pTransport
    lock: ClusterLock
    share: KeyShare | None
    """None: a member joining by rotation (no share until its reshare completes)."""
    share_path: Path
    identity: KeyPair
    me: PeerIdStr


def peer_addrs_from_bootstrap(bootstrap: Sequence[str]) -> dict[PeerIdStr, list[str]]:
    """``/ip4/h/tcp/p/p2p/<id>`` entries as {peer id: [address without /p2p]}."""
    out: dict[PeerIdStr, list[str]] = {}
    for addr in bootstrap:
        parsed = parse_tcp_multiaddr(addr, require_peer=True)
        out.setdefault(PeerIdStr(parsed.peer or ""), []).append(parsed.base)
    return out


async def build_node(config: NodeConfig, password: str) -> BuiltNode:
    """Build every real adapter from ``config`` (nothing is started).

    Refuses (``ConfigError``) when the BLS share is not in the cluster lock, the node's peer
    id is not the lock's member name for that index, or a chain reports another EVM chain id
    than configured.
    """
    lock = load_lock(config.cluster_lock)
    share_path = config.bls_keystore or config.keys_dir / BLS_SHARE_FILE
    # A member joining by rotation runs without a share until its reshare completes.
    joining = config.governance is not None and not share_path.exists()
    share = None if joining else load_share(lock, share_path, password)
    if joining:
        log.warning("no_bls_share path=%s: running as a member joining by rotation "
                    "(verifies, never signs, until its reshare completes)", share_path)
    scheme = scheme_from_lock(lock, share, config.network_id)
    identity = identity_from_bytes(read_keystore(config.keys_dir / IDENTITY_FILE, password))
    me = peer_id_of(identity)
    peers = lock_peers(lock)
    if share is not None and peers.get(me) != share.index:
        raise ConfigError(f"node.cluster_lock: member {share.index} is named "
                          f"{lock.members[share.index - 1].name!r} in the lock, but this "
                          f"node's peer id is {me}")
    account = Account.from_key(read_keystore(config.keys_dir / TX_KEY_FILE, password))
    listen = parse_tcp_multiaddr(config.listen)
    metrics = NodeMetrics(cluster=lock.name, peer=me)
    transport = Libp2pTransport(key_pair=identity, allowed=list(peers),
                                peer_addrs=peer_addrs_from_bootstrap(config.bootstrap),
                                config=HostConfig(listen_host=listen.host, listen_port=listen.port),
                                metrics=metrics.p2p_sink)
    store = NodeStore.open(config.db_path)
    params = rollup_params(config)
    wirings = []
    for chain in config.chains:
        rpc = MultiRpc([RpcClient(HttpTransport(url), name=f"{chain.name}-{i}")
                        for i, url in enumerate(chain.rpc)],
                       expected_chain_id=chain.evm_chain_id,
                       metrics=metrics.chain_sink(chain.id))
        try:
            evm_id = await rpc.chain_id()
        except ChainError as err:  # name the chain: the pool's error names only URLs
            raise ChainError(f"chain {chain.id} ({chain.name}): {err}") from err
        if evm_id != chain.evm_chain_id:
            raise ConfigError(f"chains[{chain.id}].evm_chain_id: the RPC reports another id "
                              f"({evm_id}, configured {chain.evm_chain_id})")
        ledger = NonceLedger(config.data_dir / f"ledger-{chain.id}.db",
                             account=account.address, chain_id=chain.evm_chain_id)
        submitter = Submitter(rpc=rpc, account=account, chain_id=chain.evm_chain_id,
                              ledger=ledger, fees=FeePolicy(),
                              metrics=metrics.chain_sink(chain.id))
        sender = SubmitterConfirmationSender(chain=RollupChainId(chain.id), rpc=rpc,
                                             contract=chain.contract, submitter=submitter)
        finality = (FinalityRule.finalized_tag(chain.confirmations) if chain.finalized_tag
                    else FinalityRule(confirmations=chain.confirmations))
        wirings.append(ChainWiring(RollupChainId(chain.id), rpc, chain.contract, sender,
                                   finality, chain.start_block, chain.ws))
    t = config.timing
    deps = NodeDeps(
        cluster=lock.name, epoch=Epoch(config.epoch), scheme=scheme, transport=transport,
        peers=peers, chains=wirings, da_chain=RollupChainId(config.da_chain), store=store,
        metrics=metrics, evidence_dir=config.evidence_dir,
        # The replayer rebuilds its state from the DA chain's history at every start, so the
        # watchers rescan from start_block (verified blocks are skipped, never re-signed).
        cursor_store=MemoryCursorStore(),
        replayer=RollupReplayer([c.id for c in config.chains], params),
        genesis_state_root=genesis_state_root(params),
        timing=Timing(t.rerequest_after, t.request_timeout, t.stagger, t.deadline,
                      t.poll_interval),
        group_key=lock.group_public_key.to_bytes(), can_sign=share is not None)
    return BuiltNode(deps, transport, lock, share, share_path, identity, me)


def rotation_wiring(config: NodeConfig, gov: GovernanceConfig, built: BuiltNode,
                    password: str, send: trio.MemorySendChannel[RotationEvent],
                    recv: trio.MemoryReceiveChannel[RotationEvent]) -> RotationWiring:
    """The signer-set rotation of ``gov`` (``config.governance``): it reports on ``send``,
    the node follows ``recv``."""
    gov_rpc = next(w.rpc for w in built.deps.chains if int(w.chain) == gov.chain)
    return RotationWiring(SignerSetRotation(
        rpc=gov_rpc, gate=gov.signer_sets, network_id=config.network_id,
        identity=built.identity, transport=built.transport, lock=built.lock, share=built.share,
        data_dir=config.data_dir, password=password, events=send,
        lock_path=config.cluster_lock, share_path=built.share_path,
        from_block=gov.from_block, poll_interval=config.timing.poll_interval),
        recv, config.network_id, gov.grace)
