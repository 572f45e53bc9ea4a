"""Find and run the pinned anvil binary (local chains for tests and the testnet).

The binary comes from the npm package ``@foundry-rs/anvil`` (pinned in
``.tools/package.json``) installed into the project-local ``.tools/`` folder by
``make tools``. ``ORACLE_ANVIL`` overrides the path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deploy.errors import RpcError
from deploy.rpc import BlockingRpc
from oracle_node.errors import ToolchainError

ANVIL_VERSION = "1.7.1"
ANVIL_ENV = "ORACLE_ANVIL"
REPO_ROOT = Path(__file__).resolve().parent.parent
_NPM_BIN = Path(".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
INSTALL_HINT = (
    f"anvil {ANVIL_VERSION} not found. Install the pinned toolchain with `make tools` "
    f"(npm install in .tools/ of @foundry-rs/anvil@{ANVIL_VERSION}) "
    f"or set {ANVIL_ENV} to the path of an anvil {ANVIL_VERSION} binary."
)

# The well-known anvil dev accounts (mnemonic "test test ... junk"); public test fixtures.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def find_anvil(root: Path | None = None) -> Path:
    """Return the pinned anvil binary path, or raise ToolchainError saying how to install it."""
    override = os.environ.get(ANVIL_ENV)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ToolchainError(f"{ANVIL_ENV}={override} is not an executable file. {INSTALL_HINT}")
    local = (root or REPO_ROOT) / _NPM_BIN
    if local.is_file() and os.access(local, os.X_OK):
        return local
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ToolchainError(INSTALL_HINT)


def anvil_version(binary: Path) -> str:
    """Return the version string anvil reports (e.g. ``1.7.1``)."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    first = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    return first.rsplit(" ", 1)[-1]


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class AnvilChain:
    """A running anvil process on a loopback port; stop it with :meth:`stop`."""

    chain_id: int
    port: int
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    _owned_dir: bool = field(default=True, repr=False)

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket JSON-RPC endpoint."""
        return f"ws://127.0.0.1:{self.port}"

    def rpc(self, method: str, params: list[object] | None = None, timeout: float = 10.0) -> object:
        """Blocking JSON-RPC call for tooling and tests (never used by the node); raise
        ToolchainError (chained from ``deploy.rpc.JsonRpcError``) if it fails."""
        try:
            return BlockingRpc(self.rpc_url, timeout=timeout).call(method, params)
        except RpcError as err:
            raise ToolchainError(f"anvil {method} failed: {err}") from err

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process (kill after ``timeout``) and remove an owned state dir."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._owned_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def start_anvil(
    *,
    chain_id: int = 31337,
    port: int | None = None,
    block_time: float | None = None,
    state_dir: Path | None = None,
    extra_args: list[str] | None = None,
    startup_timeout: float = 20.0,
    prune_history: bool = True,
) -> AnvilChain:
    """Start anvil on a free loopback port and wait until it answers ``eth_chainId``.

    The chain uses pruned history (``prune_history=False`` keeps it: ``anvil_reorg`` and
    historical state queries need it) and keeps its state and logs in ``state_dir`` (a fresh
    temporary folder unless given) so that nothing is written under the home folder.
    """
    binary = find_anvil()
    owned = state_dir is None
    workdir = state_dir if state_dir is not None else Path(tempfile.mkdtemp(prefix="anvil-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "anvil.log"
    last_error: Exception | None = None
    for _attempt in range(3):
        chosen = port or free_port()
        args = [
            str(binary),
            "--host", "127.0.0.1",
            "--port", str(chosen),
            "--chain-id", str(chain_id),
            "--silent",
        ]
        if prune_history:
            args.append("--prune-history")
        if block_time is not None:
            args += ["--block-time", str(block_time)]
        args += extra_args or []
        env = dict(os.environ, HOME=str(workdir), FOUNDRY_DIR=str(workdir / ".foundry"))
        log = log_path.open("ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        log.close()
        chain = AnvilChain(chain_id, chosen, proc, workdir, log_path, owned)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = ToolchainError(f"anvil exited with {proc.returncode}; see {log_path}")
                break
            try:
                if int(str(chain.rpc("eth_chainId", timeout=1.0)), 16) == chain_id:
                    return chain
            except (ToolchainError, ValueError) as err:
                last_error = err
            time.sleep(0.05)
        else:
            last_error = ToolchainError(f"anvil did not answer within {startup_timeout}s")
        chain._owned_dir = False
        chain.stop()
        if port is not None:
            break
    if owned:
        shutil.rmtree(workdir, ignore_errors=True)
    raise ToolchainError(f"could not start anvil: {last_error}") from last_error


@contextlib.contextmanager
def anvil_chain(**kwargs: object) -> Iterator[AnvilChain]:
    """Context manager around :func:`start_anvil` that always stops the chain."""
    chain = start_anvil(**kwargs)  # type: ignore[arg-type]
    try:
        yield chain
    finally:
        chain.stop()
