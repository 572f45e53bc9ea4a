pragma circom 2.0.0;

// A trivial statement with the rollup proof's public-input shape (3 + 2k inputs):
// the prover knows x with x * x == y.  Every public input is squared once so that each
// one appears in a constraint (unconstrained public inputs would not be bound).
template Square(n) {
    signal input pub[n];
    signal input x;
    signal input y;
    signal bind[n];
    for (var i = 0; i < n; i++) {
        bind[i] <== pub[i] * pub[i];
    }
    y === x * x;
}

component main {public [pub]} = Square(11);
