"""Backend selection: ``get_backend("arkworks" | "py_ecc")``; arkworks is the default."""

from __future__ import annotations

from functools import cache

from consensus.bls.backend import Backend
from consensus.errors import UnknownBackendError

BACKEND_NAMES = ("arkworks", "py_ecc")
DEFAULT_BACKEND = "arkworks"


@cache
def get_backend(name: str = DEFAULT_BACKEND) -> Backend:
    """Return the (shared, stateless) backend called ``name``; raise ``UnknownBackendError``."""
    if name == "arkworks":
        from consensus.bls.arkworks_backend import ArkworksBackend

        return ArkworksBackend()
    if name == "py_ecc":
        from consensus.bls.py_ecc_backend import PyEccBackend

        return PyEccBackend()
    raise UnknownBackendError(f"unknown BLS backend {name!r}; known: {', '.join(BACKEND_NAMES)}")


def resolve(backend: Backend | str | None) -> Backend:
    """Map ``None`` to the default backend and a name to its backend."""
    if backend is None:
        return get_backend(DEFAULT_BACKEND)
    if isinstance(backend, str):
        return get_backend(backend)
    return backend
