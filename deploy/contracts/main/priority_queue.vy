# pragma version ~=0.4.3
# @license GPL-3.0-or-later
"""
@title Priority queue, token registry and exodus flag of the main contract
@notice Deposits (ETH and registered ERC-20 tokens) and full-exit requests enter a queue
        with serial ids 0, 1, 2, ...; a committed block must include this chain's
        priority operations in queue order (docs/protocol.md §2). A request that is not
        executed by its expiry block lets anyone switch the contract to exodus mode, which
        blocks deposits, commits and executions for good.
        Each request is stored in one slot: the top 192 bits of the hash of its known
        fields and its 64-bit expiry block.
"""

from ethereum.ercs import IERC20
import guard

event DepositQueued:
    serial_id: indexed(uint64)
    owner: indexed(address)
    token: uint16
    amount: uint128
    expiry_block: uint256

event FullExitQueued:
    serial_id: indexed(uint64)
    owner: indexed(address)
    account_id: uint32
    token: uint16
    expiry_block: uint256

event ExodusMode:
    serial_id: indexed(uint64)
    expiry_block: uint256

OP_DEPOSIT: constant(uint256) = 1
OP_FULL_EXIT: constant(uint256) = 4
ETH_TOKEN_ID: constant(uint16) = 1
EXPIRY_MASK: constant(uint256) = 2**64 - 1

# token id -> local token address (ETH has none: it is native)
token_addresses: public(HashMap[uint16, address])
# blocks a request stays valid before it may trigger exodus mode
expiry_period: public(uint256)
# serial id of the next request to be queued (= number of requests ever queued)
total_requests: public(uint64)
# serial id of the oldest request whose block is not yet executed
first_open_request: public(uint64)
# serial id the next committed priority operation must carry
next_commit_serial: public(uint64)
# packed (hash prefix << 64 | expiry block) per serial id
requests: HashMap[uint64, uint256]
exodus_mode: public(bool)
# account ids are below this (2**depth of the rollup's account tree)
MAX_ACCOUNTS: immutable(uint256)


@deploy
def __init__(expiry_period: uint256, test_token: address, max_accounts: uint256):
    guard.check(expiry_period > 0 and expiry_period < 2**32, "BadExpiryPeriod")
    self.expiry_period = expiry_period
    self.token_addresses[2] = test_token
    MAX_ACCOUNTS = max_accounts


@internal
@pure
def request_hash(op_type: uint256, account_id: uint256, token: uint256, amount: uint256,
                 owner: address) -> uint256:
    """
    @notice Hash of the fields a request fixes; the sequencer chooses a deposit's account id
            and a full exit's amount, so those enter as zero.
    """
    return convert(keccak256(abi_encode(op_type, account_id, token, amount, owner)), uint256)


@internal
def _queue(op_type: uint256, account_id: uint256, token: uint16, amount: uint128,
           owner: address) -> (uint64, uint256):
    guard.check(not self.exodus_mode, "ExodusActive")
    serial: uint64 = self.total_requests
    expiry: uint256 = block.number + self.expiry_period
    h: uint256 = self.request_hash(op_type, account_id, convert(token, uint256),
                                   convert(amount, uint256), owner)
    self.requests[serial] = ((h >> 64) << 64) | expiry
    self.total_requests = serial + 1
    return serial, expiry


@external
@payable
def depositETH(owner: address):
    """
    @notice Queue a deposit of msg.value wei (token id 1) credited to `owner` on L2.
    """
    guard.check(owner != empty(address), "ZeroOwner")
    guard.check(msg.value > 0, "ZeroAmount")
    guard.check(msg.value <= convert(max_value(uint128), uint256), "AmountTooLarge")
    amount: uint128 = convert(msg.value, uint128)
    serial: uint64 = 0
    expiry: uint256 = 0
    serial, expiry = self._queue(OP_DEPOSIT, 0, ETH_TOKEN_ID, amount, owner)
    log DepositQueued(serial_id=serial, owner=owner, token=ETH_TOKEN_ID, amount=amount,
                      expiry_block=expiry)


@external
def depositERC20(token: uint16, amount: uint128, owner: address):
    """
    @notice Queue a deposit of `amount` of the registered ERC-20 `token` (pulled from the
            caller with transferFrom; the amount actually received is queued).
    """
    guard.check(owner != empty(address), "ZeroOwner")
    guard.check(amount > 0, "ZeroAmount")
    token_address: address = self.token_addresses[token]
    guard.check(token != ETH_TOKEN_ID and token_address != empty(address), "UnknownToken")
    before: uint256 = staticcall IERC20(token_address).balanceOf(self)
    guard.check(extcall IERC20(token_address).transferFrom(msg.sender, self, convert(amount, uint256),
                                                      default_return_value=True), "TransferFailed")
    received: uint256 = staticcall IERC20(token_address).balanceOf(self) - before
    guard.check(received > 0, "ZeroAmount")
    guard.check(received <= convert(max_value(uint128), uint256), "AmountTooLarge")
    queued: uint128 = convert(received, uint128)
    serial: uint64 = 0
    expiry: uint256 = 0
    serial, expiry = self._queue(OP_DEPOSIT, 0, token, queued, owner)
    log DepositQueued(serial_id=serial, owner=owner, token=token, amount=queued,
                      expiry_block=expiry)


@external
def requestFullExit(account_id: uint32, token: uint16):
    """
    @notice Queue a full exit of the caller's whole `token` balance in account `account_id`.
            Refuses ids no block can contain (account 0, ids outside the account tree,
            unregistered tokens): such a request would block the queue until exodus.
    """
    guard.check(account_id != 0, "ReservedAccount")
    guard.check(convert(account_id, uint256) < MAX_ACCOUNTS, "AccountIdTooLarge")
    guard.check(token == ETH_TOKEN_ID or self.token_addresses[token] != empty(address), "UnknownToken")
    serial: uint64 = 0
    expiry: uint256 = 0
    serial, expiry = self._queue(OP_FULL_EXIT, convert(account_id, uint256), token, 0, msg.sender)
    log FullExitQueued(serial_id=serial, owner=msg.sender, account_id=account_id, token=token,
                       expiry_block=expiry)


@internal
@view
def matches(serial: uint64, request_hash: uint256) -> bool:
    """
    @notice True if request `serial` exists and its stored hash prefix equals `request_hash`'s.
    """
    if serial >= self.total_requests:
        return False
    return (self.requests[serial] >> 64) == (request_hash >> 64)


@internal
def consume(count: uint64):
    """
    @notice Mark `count` requests (of an executed block) as done and free their slots.
    """
    first: uint64 = self.first_open_request
    for i: uint64 in range(count, bound=1024):
        self.requests[first + i] = 0
    self.first_open_request = first + count


@external
def activateExodusMode():
    """
    @notice Anyone may switch on exodus mode once the oldest open request has expired.
    """
    guard.check(not self.exodus_mode, "ExodusActive")
    first: uint64 = self.first_open_request
    guard.check(first < self.total_requests, "NoOpenRequest")
    expiry: uint256 = self.requests[first] & EXPIRY_MASK
    guard.check(block.number >= expiry, "RequestNotExpired")
    self.exodus_mode = True
    log ExodusMode(serial_id=first, expiry_block=expiry)
