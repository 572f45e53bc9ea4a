"""``oracle-gov``: governance tooling (signer-set proposals, key handover, pause).

Every command talks to one gate (the main contract of one chain) over JSON-RPC: views and
ABI encoding with a sync ``web3.Web3``, transactions through ``deploy.gate_tools.TxSender``.
The sending key comes from an environment variable (``--key-env``, default
``ORACLE_GOV_KEY``), never from the command line. ``propose-signer-set --print-only`` needs no
key: it prints the target and calldata for a multisig or timelock to send.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from deploy.errors import DeployError, RpcError

app = typer.Typer(help="Governance actions on the oracle gate contracts.", no_args_is_help=True,
                  add_completion=False)



class GovCliError(DeployError):
    """Raised when a command's target is not what it should be (e.g. no contract there)."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn bad input (``ValueError``: malformed hex or address, bad key) into exit 2 and an
    unreachable or failing chain (``OSError``, ``web3`` errors, :class:`DeployError`) into
    exit 1, each as one line on stderr instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from web3.exceptions import Web3Exception

        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            typer.echo(f"bad input: {_one_line(err)}", err=True)
            raise typer.Exit(2) from err
        except (OSError, Web3Exception, DeployError) as err:
            typer.echo(f"error: {_one_line(err)}", err=True)
            raise typer.Exit(1) from err

    return wrapper


def _command(name: str | None = None) -> Callable[[Callable[_P, None]], Callable[_P, None]]:
    """``app.command(name)`` with the :func:`_guarded` error boundary."""

    def register(fn: Callable[_P, None]) -> Callable[_P, None]:
        guarded = _guarded(fn)
        app.command(name)(guarded)
        return guarded

    return register

RpcOpt = Annotated[str, typer.Option("--rpc", envvar="ORACLE_GOV_RPC", help="JSON-RPC URL.")]
GateOpt = Annotated[str, typer.Option("--gate", envvar="ORACLE_GOV_GATE",
                                      help="Address of the contract that holds the gate.")]
SignerSetsOpt = Annotated[str, typer.Option(
    "--signer-sets", envvar="ORACLE_GOV_SIGNER_SETS",
    help="Address of the signer-set proposal contract (governance chain).")]
KeyEnvOpt = Annotated[str, typer.Option("--key-env",
                                        help="Environment variable holding the sender key.")]


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError as err:
        raise ValueError(f"{what} is not 0x-hex: {text[:80]!r}") from err


def _connect(rpc: str, address: str, *, signer_sets: bool = False) -> tuple[Any, Any]:
    from eth_utils.address import is_hex_address
    from web3 import Web3

    from deploy.gate_tools import gate_contract, signer_sets_contract

    if not is_hex_address(address):
        raise ValueError(f"not an address: {address[:80]!r}")
    checksummed = Web3.to_checksum_address(address)
    w3 = Web3(Web3.HTTPProvider(rpc))
    if not w3.eth.get_code(checksummed):
        raise GovCliError(f"no contract at {checksummed} on {rpc}")
    abi = (signer_sets_contract() if signer_sets else gate_contract()).abi
    return w3, w3.eth.contract(address=checksummed, abi=abi)


def _sender(w3: Any, key_env: str) -> Any:
    from deploy.gate_tools import TxSender

    key = os.environ.get(key_env)
    if not key:
        typer.echo(f"set {key_env} to the governor's private key", err=True)
        raise typer.Exit(2)
    return TxSender(w3, key)


def _send(w3: Any, contract: Any, key_env: str, fn: str, *args: Any, gas: int | None = None
          ) -> Any:
    from deploy.gate_tools import TransactionFailedError

    sender = _sender(w3, key_env)
    data = bytes.fromhex(contract.encode_abi(fn, list(args))[2:])
    try:
        receipt = sender.send(contract.address, data, gas=gas)
    except TransactionFailedError as err:
        typer.echo(f"{fn} reverted: {err.reason}", err=True)
        raise typer.Exit(1) from err
    except RpcError as err:
        typer.echo(f"{fn} failed: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"{fn}: tx {receipt['transactionHash'].hex()} gas {receipt['gasUsed']}")
    return receipt


def _decode_peer_id(text: str) -> bytes:
    if text.startswith("0x"):
        return _hex(text, "peer_id")
    import base58

    return bytes(base58.b58decode(text))


@_command()
def version() -> None:
    """Print the tooling version."""
    from oracle_node import __version__

    typer.echo(__version__)


@_command()
def status(rpc: RpcOpt, gate: GateOpt, signer_sets: SignerSetsOpt = "") -> None:
    """Show the epoch, group key, pending signer set, pending replacement and pause flag."""
    _, contract = _connect(rpc, gate)
    fns = contract.functions
    pending = None
    if signer_sets:
        _, registry = _connect(rpc, signer_sets, signer_sets=True)
        proposal_id, activation, threshold, size = registry.functions.pendingSignerSet().call()
        if proposal_id:
            pending = {"proposal_id": proposal_id, "activation_block": activation,
                       "threshold": threshold, "size": size}
    blob, eta = fns.pendingReplacement().call()
    info = {
        "network_id": fns.networkId().call(),
        "epoch": fns.epoch().call(),
        "group_key": "0x" + bytes(fns.groupKeyCompressed().call()).hex(),
        "governor": fns.governance().call(),
        "paused": fns.paused().call(),
        "last_confirmed_block": fns.lastConfirmedBlock().call(),
        "pending_signer_set": pending,
        "pending_replacement": {"key_blob": blob, "eta": eta} if eta else None,
    }
    typer.echo(json.dumps(info, indent=2))


@_command()
def pause(rpc: RpcOpt, gate: GateOpt, key_env: KeyEnvOpt = "ORACLE_GOV_KEY") -> None:
    """Stop accepting confirmations (governor)."""
    w3, contract = _connect(rpc, gate)
    _send(w3, contract, key_env, "pause")


@_command()
def unpause(rpc: RpcOpt, gate: GateOpt, key_env: KeyEnvOpt = "ORACLE_GOV_KEY") -> None:
    """Accept confirmations again (governor)."""
    w3, contract = _connect(rpc, gate)
    _send(w3, contract, key_env, "unpause")


@_command("propose-signer-set")
def propose_signer_set(
    rpc: RpcOpt, signer_sets: SignerSetsOpt,
    members: Annotated[Path, typer.Option(
        "--members", help='JSON list of {"peer_id": base58 or 0x-hex, "public_key": 0x-hex 96 B, '
                          '"pop": 0x-hex 48 B}.')],
    threshold: Annotated[int, typer.Option("--threshold")],
    activation_block: Annotated[int, typer.Option("--activation-block")],
    print_only: Annotated[bool, typer.Option("--print-only",
                                             help="Print target and calldata, send nothing.")]
    = False,
    key_env: KeyEnvOpt = "ORACLE_GOV_KEY",
) -> None:
    """Announce a new signer set on the governance chain (one transaction, no key change)."""
    from deploy.gate_tools import (
        GateToolError,
        SignerSetMember,
        propose_signer_set_args,
        propose_signer_set_calldata,
    )

    try:
        entries = json.loads(members.read_text())
        parsed = [SignerSetMember(peer_id=_decode_peer_id(e["peer_id"]),
                                  public_key=_hex(e["public_key"], "public_key"),
                                  pop=_hex(e["pop"], "pop"))
                  for e in entries]
        calldata = propose_signer_set_calldata(parsed, threshold, activation_block)
    except (OSError, ValueError, KeyError, TypeError, GateToolError) as err:
        typer.echo(f"bad signer set: {err}", err=True)
        raise typer.Exit(2) from err
    if print_only:
        typer.echo(json.dumps({"to": signer_sets, "data": "0x" + calldata.hex()}))
        return
    w3, contract = _connect(rpc, signer_sets, signer_sets=True)
    _send(w3, contract, key_env, "proposeSignerSet",
          *propose_signer_set_args(parsed, threshold, activation_block))


@_command("handover-message")
def handover_message_cmd(
    rpc: RpcOpt, gate: GateOpt,
    new_key: Annotated[str, typer.Option("--new-key", help="0x-hex 96-byte group key.")],
) -> None:
    """Print the 32-byte message the current group must sign to hand over to NEW_KEY."""
    from deploy.gate_tools import handover_message

    key = _hex(new_key, "--new-key")
    _, contract = _connect(rpc, gate)
    message = handover_message(network_id=contract.functions.networkId().call(),
                               old_epoch=contract.functions.epoch().call(), new_key=key)
    typer.echo("0x" + message.hex())


@_command()
def handover(
    rpc: RpcOpt, gate: GateOpt,
    new_key: Annotated[str, typer.Option("--new-key", help="0x-hex 96-byte group key.")],
    signature: Annotated[str, typer.Option(
        "--signature", help="0x-hex group signature (48 B compressed or 128 B EIP-2537).")],
    key_env: KeyEnvOpt = "ORACLE_GOV_KEY",
) -> None:
    """Replace the group key with a handover signed by the current group (anyone may send)."""
    from deploy.gate_tools import HANDOVER_GAS_LIMIT, deploy_key_blob, signature_eip2537

    raw = _hex(signature, "--signature")
    key = _hex(new_key, "--new-key")
    w3, contract = _connect(rpc, gate)
    try:
        sig = signature_eip2537(raw) if len(raw) == 48 else raw
        blob = deploy_key_blob(_sender(w3, key_env), key)
    except DeployError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    _send(w3, contract, key_env, "handoverGroupKey", blob, sig, gas=HANDOVER_GAS_LIMIT)
    typer.echo(f"epoch now {contract.functions.epoch().call()}")


@_command("handover-combine")
def handover_combine(
    lock: Annotated[Path, typer.Option("--lock", help="The current (old) cluster lock.")],
    partials: Annotated[list[Path], typer.Argument(
        help="Partial files from `oracle-node handover-sign` (t or more).")],
) -> None:
    """Check each member's handover partial against the lock and combine t of them.

    Prints the 0x-hex group signature for ``oracle-gov handover --signature``; any partial
    that is malformed, for another handover, or does not verify is an error (exit 2).
    """
    from consensus.errors import ConsensusError
    from consensus.handover import HandoverPartial, combine_handover
    from consensus.lock import ClusterLock

    try:
        cluster_lock = ClusterLock.from_json(lock.read_text())
        items = [HandoverPartial.from_json(path.read_text()) for path in partials]
        signature = combine_handover(cluster_lock, items)
    except (ConsensusError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    first = items[0]
    typer.echo(f"handover from epoch {first.old_epoch} of network {first.network_id} to "
               f"0x{first.new_key.hex()[:16]}…, message 0x{first.message.hex()}", err=True)
    typer.echo("0x" + signature.hex())


@_command("schedule-replacement")
def schedule_replacement(
    rpc: RpcOpt, gate: GateOpt,
    new_key: Annotated[str, typer.Option("--new-key", help="0x-hex 96-byte group key.")],
    key_env: KeyEnvOpt = "ORACLE_GOV_KEY",
) -> None:
    """Emergency path (governor): schedule a key replacement, executable after the delay."""
    from deploy.gate_tools import deploy_key_blob

    key = _hex(new_key, "--new-key")
    w3, contract = _connect(rpc, gate)
    try:
        blob = deploy_key_blob(_sender(w3, key_env), key)
    except DeployError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    _send(w3, contract, key_env, "scheduleGroupKeyReplacement", blob)


@_command("execute-replacement")
def execute_replacement(rpc: RpcOpt, gate: GateOpt, key_env: KeyEnvOpt = "ORACLE_GOV_KEY"
                        ) -> None:
    """Emergency path (governor): install the scheduled key once the delay has passed."""
    from deploy.gate_tools import HANDOVER_GAS_LIMIT

    w3, contract = _connect(rpc, gate)
    _send(w3, contract, key_env, "executeGroupKeyReplacement", gas=HANDOVER_GAS_LIMIT)


def main() -> None:
    """Console entry point."""
    app()
