"""Circom sources of the block circuit (package data)."""
