"""Persistence: the embedded SQLite database (cursors, roots, slashing protection, evidence)."""
