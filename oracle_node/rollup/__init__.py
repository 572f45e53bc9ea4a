"""The embedded rollup core: a pure, deterministic L2 state machine (no I/O, no trio)."""
