"""Local clusters: anvil chains, deployment, sequencer, node processes, scenarios, benchmarks."""
