"""The Groth16 prover for rollup blocks (circom circuit, groth16py; synchronous, no trio)."""
