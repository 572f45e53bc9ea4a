"""Contracts (Vyper), their compilation, deployment tooling and the governance CLI."""
