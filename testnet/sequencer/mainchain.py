"""The sequencer's view of one chain's main contract: queue events, commit, prove, execute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode

from deploy import bindings
from deploy.bindings import CommitBlock, StoredBlock
from testnet.harness.errors import ChainCallError
from testnet.sequencer.evm import EvmClient, TxResult

TOPIC_DEPOSIT = bindings.EVENT_TOPICS["DepositQueued"]
TOPIC_FULL_EXIT = bindings.EVENT_TOPICS["FullExitQueued"]
TOPIC_CONFIRMED = bindings.EVENT_TOPICS["FinalRootConfirmed"]


@dataclass(frozen=True)
class PriorityRequest:
    """One queued deposit or full exit, as the chain logged it."""

    chain_id: int
    serial_id: int
    kind: str  # "deposit" | "full_exit"
    owner: bytes
    token: int
    amount: int
    account_id: int


@dataclass
class MainChain:
    """One connected chain: its rollup id, RPC client, main contract and test token."""

    rollup_chain_id: int
    client: EvmClient
    main: str
    token: str
    gas_used: dict[str, int] = field(default_factory=dict)
    _next_from: int = 0

    def _send(self, key: str, what: str, data: bytes, *, value: int = 0,
              to: str | None = None) -> TxResult:
        try:
            result = self.client.send(key, to=to or self.main, data=data, value=value)
        except ChainCallError as err:
            raise ChainCallError(f"chain {self.rollup_chain_id} {what}: {err}") from err
        self.gas_used[what] = self.gas_used.get(what, 0) + result.gas_used
        return result

    def new_priority_requests(self) -> list[PriorityRequest]:
        """Deposit/full-exit requests logged since the previous call, in serial order."""
        head = self.client.block_number()
        if head < self._next_from:
            return []
        logs = self.client.get_logs(self.main, [[TOPIC_DEPOSIT, TOPIC_FULL_EXIT]],
                                    self._next_from, head)
        self._next_from = head + 1
        out: list[PriorityRequest] = []
        for log in logs:
            serial = int.from_bytes(log.topics[1], "big")
            owner = log.topics[2][12:]
            if log.topics[0] == TOPIC_DEPOSIT:
                token, amount, _expiry = abi_decode(["uint16", "uint128", "uint256"], log.data)
                out.append(PriorityRequest(self.rollup_chain_id, serial, "deposit", owner,
                                           int(token), int(amount), 0))
            else:
                account, token, _expiry = abi_decode(["uint32", "uint16", "uint256"], log.data)
                out.append(PriorityRequest(self.rollup_chain_id, serial, "full_exit", owner,
                                           int(token), 0, int(account)))
        return sorted(out, key=lambda r: r.serial_id)

    def deposit_eth(self, key: str, owner: str, amount: int) -> TxResult:
        """Queue an ETH deposit of ``amount`` wei credited to ``owner``."""
        return self._send(key, "depositETH", bindings.encode_deposit_eth(owner), value=amount)

    def deposit_token(self, key: str, owner: str, amount: int) -> TxResult:
        """Deposit ``amount`` test tokens (the sender holds and approved them, see
        :meth:`fund_user`)."""
        return self._send(key, "depositERC20", bindings.encode_deposit_erc20(2, amount, owner))

    def fund_user(self, minter_key: str, user_key: str, amount: int) -> None:
        """Mint ``amount`` test tokens to the user and let the main contract pull them."""
        user = _address_of(user_key)
        self._send(minter_key, "mint", bindings.encode_call("mint", ["address", "uint256"],
                                                            [user, amount]), to=self.token)
        self._send(user_key, "approve", bindings.encode_call("approve", ["address", "uint256"],
                                                             [self.main, 2**256 - 1]),
                   to=self.token)

    def request_full_exit(self, key: str, account_id: int, token: int) -> TxResult:
        """Queue a full exit of the sender's ``token`` balance in ``account_id``."""
        return self._send(key, "requestFullExit",
                          bindings.encode_request_full_exit(account_id, token))

    def commit(self, key: str, last: StoredBlock, block: CommitBlock) -> TxResult:
        """``commitBlocks(last, [block])``."""
        return self._send(key, "commitBlocks", bindings.encode_commit_blocks(last, [block]))

    def prove(self, key: str, stored: StoredBlock, pubdata: bytes, proof: bytes) -> TxResult:
        """``proveBlocks([(stored, pubdata, proof)])``."""
        return self._send(key, "proveBlocks",
                          bindings.encode_prove_blocks([(stored, pubdata, proof)]))

    def execute(self, key: str, stored: StoredBlock, pubdata: bytes) -> TxResult:
        """``executeBlocks([(stored, pubdata)])``."""
        return self._send(key, "executeBlocks", bindings.encode_execute_blocks([(stored, pubdata)]))

    def revert(self, key: str, newest_first: Sequence[StoredBlock]) -> TxResult:
        """``revertBlocks(records newest first)``."""
        return self._send(key, "revertBlocks", bindings.encode_revert_blocks(newest_first))

    def view_uint(self, name: str) -> int:
        """A ``uint256`` getter without arguments (e.g. ``total_blocks_executed``)."""
        raw = self.client.call(self.main, bindings.encode_call(name))
        return int(abi_decode(["uint256"], raw)[0])

    def is_confirmed(self, block_number: int, final_root: bytes) -> bool:
        """The gate's ``isConfirmed(n, root)``: a confirmation of a later block confirms the
        earlier ones too (final roots form a hash chain), without an event of their own."""
        raw = self.client.call(self.main, bindings.encode_call(
            "isConfirmed", ["uint256", "bytes32"], [block_number, final_root]))
        return bool(abi_decode(["bool"], raw)[0])

    def confirmed_roots(self, from_block: int = 0) -> dict[int, bytes]:
        """Every ``FinalRootConfirmed`` seen: block number -> confirmed final root."""
        logs = self.client.get_logs(self.main, [TOPIC_CONFIRMED], from_block)
        return {int.from_bytes(log.topics[1], "big"): log.data[:32] for log in logs}


def _address_of(key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(key).address)
