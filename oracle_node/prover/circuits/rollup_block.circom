// Rollup block state transition (docs/protocol.md §2-§3, docs/prover.md).
// Public inputs: [old_root, new_root, block_number, pubdata[0 .. 2K-1]].
// Parameters (rendered by oracle_node/prover/circuit.py): D account-tree depth,
// T token slots, K operations per block.
pragma circom 2.1.0;

include "poseidon.circom";
include "bitify.circom";
include "comparators.circom";

// Root of a quaternary Poseidon Merkle path over 2^D leaves (D even, D/2 levels).
// bits: the leaf index, LSB first (level i uses bits 2i, 2i+1 = the base-4 digit);
// siblings[i]: the 3 other children of level i in increasing position.
template MerkleRoot(D) {
    var L = D \ 2;
    signal input leaf;
    signal input bits[D];
    signal input siblings[L][3];
    signal output root;
    signal cur[L + 1];
    signal e3[L];
    signal pick01[L];
    signal pick12[L];
    signal child[L][4];
    component h[L];
    cur[0] <== leaf;
    for (var i = 0; i < L; i++) {
        // one-hot of the position: e3 = b0 b1, e1 = b0 - e3, e2 = b1 - e3, e0 = 1 - b0 - b1 + e3
        // children: pos0 [c,s0,s1,s2] pos1 [s0,c,s1,s2] pos2 [s0,s1,c,s2] pos3 [s0,s1,s2,c]
        e3[i] <== bits[2 * i] * bits[2 * i + 1];
        var e0 = 1 - bits[2 * i] - bits[2 * i + 1] + e3[i];
        var e1 = bits[2 * i] - e3[i];
        var e2 = bits[2 * i + 1] - e3[i];
        child[i][0] <== siblings[i][0] + e0 * (cur[i] - siblings[i][0]);
        pick01[i] <== e0 * (siblings[i][0] - siblings[i][1]);
        child[i][1] <== siblings[i][1] + pick01[i] + e1 * (cur[i] - siblings[i][1]);
        pick12[i] <== e3[i] * (siblings[i][2] - siblings[i][1]);
        child[i][2] <== siblings[i][1] + pick12[i] + e2 * (cur[i] - siblings[i][1]);
        child[i][3] <== siblings[i][2] + e3[i] * (cur[i] - siblings[i][2]);
        h[i] = Poseidon(4);
        for (var j = 0; j < 4; j++) {
            h[i].inputs[j] <== child[i][j];
        }
        cur[i + 1] <== h[i].out;
    }
    root <== cur[L];
}

// Account leaf: 0 if the owner is zero (absent account), else Poseidon(owner, nonce, bal[T]).
template AccountLeaf(T) {
    signal input owner;
    signal input nonce;
    signal input bal[T];
    signal output leaf;
    signal output exists;
    component isAbsent = IsZero();
    isAbsent.in <== owner;
    exists <== 1 - isAbsent.out;
    component h = Poseidon(2 + T);
    h.inputs[0] <== owner;
    h.inputs[1] <== nonce;
    for (var j = 0; j < T; j++) {
        h.inputs[2 + j] <== bal[j];
    }
    leaf <== exists * h.out;
}

// An absent account must hold nonce 0 and zero balances.
template AbsentIsEmpty(T) {
    signal input exists;
    signal input nonce;
    signal input bal[T];
    (1 - exists) * nonce === 0;
    for (var j = 0; j < T; j++) {
        (1 - exists) * bal[j] === 0;
    }
}

// One operation slot: decode its two pubdata elements, then update account A (the
// op's account) and account B (the transfer recipient; account 0 unchanged otherwise).
template OpSlot(D, T) {
    signal input p[2];
    signal input rootIn;
    signal input aOwner;
    signal input aNonce;
    signal input aBal[T];
    signal input aSib[D \ 2][3];
    signal input bOwner;
    signal input bNonce;
    signal input bBal[T];
    signal input bSib[D \ 2][3];
    signal output rootOut;

    // ---- decode: byte j of the op is in element j\31, bits (30 - j%31)*8 .. +7 ----
    component e[2];
    for (var x = 0; x < 2; x++) {
        e[x] = Num2Bits(248);
        e[x].in <== p[x];
    }
    var F_TYPE = 0; var F_CHAIN = 0; var F_ACC = 0; var F_TOKEN = 0; var F_AMOUNT = 0;
    var F_ADDR = 0; var F_TO = 0; var F_FNONCE = 0; var F_WNONCE = 0;
    var PAD32 = 0; var PAD48 = 0; var PAD52 = 0;
    for (var j = 0; j < 62; j++) {
        var byteLc = 0;
        for (var m = 0; m < 8; m++) {
            byteLc += e[j \ 31].out[(30 - j % 31) * 8 + m] * (1 << m);
        }
        if (j == 0) { F_TYPE = byteLc; }
        if (j == 1) { F_CHAIN = byteLc; }
        if (j >= 2 && j < 6) { F_ACC += byteLc * (1 << (8 * (5 - j))); }
        if (j >= 6 && j < 8) { F_TOKEN += byteLc * (1 << (8 * (7 - j))); }
        if (j >= 8 && j < 24) { F_AMOUNT += byteLc * (2 ** (8 * (23 - j))); }
        if (j >= 24 && j < 44) { F_ADDR += byteLc * (2 ** (8 * (43 - j))); }
        if (j >= 24 && j < 28) { F_TO += byteLc * (1 << (8 * (27 - j))); }
        if (j >= 28 && j < 32) { F_FNONCE += byteLc * (1 << (8 * (31 - j))); }
        if (j >= 44 && j < 48) { F_WNONCE += byteLc * (1 << (8 * (47 - j))); }
        if (j >= 32) { PAD32 += byteLc * (2 ** (8 * (61 - j))); }
        if (j >= 48) { PAD48 += byteLc * (2 ** (8 * (61 - j))); }
        if (j >= 52) { PAD52 += byteLc * (2 ** (8 * (61 - j))); }
    }
    signal opType <== F_TYPE;
    signal chain <== F_CHAIN;
    signal acc <== F_ACC;
    signal token <== F_TOKEN;
    signal amount <== F_AMOUNT;
    signal addr <== F_ADDR;
    signal to <== F_TO;

    // type one-hot f[0..4]: Noop, Deposit, Transfer, Withdraw, FullExit
    signal f[5];
    var fSum = 0;
    var fCode = 0;
    for (var c = 0; c < 5; c++) {
        f[c] <-- opType == c ? 1 : 0;
        f[c] * (f[c] - 1) === 0;
        fSum += f[c];
        fCode += c * f[c];
    }
    fSum === 1;
    fCode === opType;
    // canonical padding per type
    f[0] * p[0] === 0;
    f[0] * p[1] === 0;
    f[2] * PAD32 === 0;
    f[2] * chain === 0;
    f[3] * PAD48 === 0;
    f[1] * PAD52 === 0;
    f[4] * PAD52 === 0;

    // token one-hot over slots 1..T (all zero for Noop)
    signal tf[T];
    var tSum = 0;
    var tCode = 0;
    for (var j = 0; j < T; j++) {
        tf[j] <-- token == j + 1 ? 1 : 0;
        tf[j] * (tf[j] - 1) === 0;
        tSum += tf[j];
        tCode += (j + 1) * tf[j];
    }
    tSum === 1 - f[0];
    tCode === token;

    // account ids: in range, and nonzero for every real op
    component accBits = Num2Bits(D);
    accBits.in <== acc;
    component accZero = IsZero();
    accZero.in <== acc;
    (1 - f[0]) * accZero.out === 0;
    signal idxB <== f[2] * to;
    component bBits = Num2Bits(D);
    bBits.in <== idxB;

    // ---- account A ----
    component oldA = AccountLeaf(T);
    oldA.owner <== aOwner;
    oldA.nonce <== aNonce;
    for (var j = 0; j < T; j++) { oldA.bal[j] <== aBal[j]; }
    component emptyA = AbsentIsEmpty(T);
    emptyA.exists <== oldA.exists;
    emptyA.nonce <== aNonce;
    for (var j = 0; j < T; j++) { emptyA.bal[j] <== aBal[j]; }
    component pathOldA = MerkleRoot(D);
    pathOldA.leaf <== oldA.leaf;
    for (var i = 0; i < D; i++) {
        pathOldA.bits[i] <== accBits.out[i];
    }
    for (var i = 0; i < D \ 2; i++) {
        for (var j = 0; j < 3; j++) {
            pathOldA.siblings[i][j] <== aSib[i][j];
        }
    }
    pathOldA.root === rootIn;

    signal selA[T];
    var balA = 0;
    for (var j = 0; j < T; j++) {
        selA[j] <== tf[j] * aBal[j];
        balA += selA[j];
    }
    signal spend <== f[2] + f[3];
    spend * (1 - oldA.exists) === 0;
    signal opNonceT <== f[2] * F_FNONCE;
    signal opNonceW <== f[3] * F_WNONCE;
    signal spentNonce <== spend * aNonce;
    spentNonce === opNonceT + opNonceW;
    component nonceMax = IsEqual();
    nonceMax.in[0] <== aNonce;
    nonceMax.in[1] <== 4294967295;
    spend * nonceMax.out === 0;
    // deposit: owner nonzero and equal to the account's owner if it exists
    component addrZero = IsZero();
    addrZero.in <== addr;
    f[1] * addrZero.out === 0;
    signal depOwner <== f[1] * aOwner;
    depOwner * (aOwner - addr) === 0;
    // full exit: amount is the balance if the owner matches, else 0
    component ownerMatch = IsEqual();
    ownerMatch.in[0] <== aOwner;
    ownerMatch.in[1] <== addr;
    signal exitable <== ownerMatch.out * balA;
    f[4] * (amount - exitable) === 0;

    signal deltaA <== (f[1] - f[2] - f[3] - f[4]) * amount;
    component rangeA = Num2Bits(128);
    rangeA.in <== balA + deltaA;
    signal newOwnerA <== aOwner + f[1] * (addr - aOwner);
    component newA = AccountLeaf(T);
    newA.owner <== newOwnerA;
    newA.nonce <== aNonce + spend;
    signal stepA[T];
    for (var j = 0; j < T; j++) {
        stepA[j] <== tf[j] * deltaA;
        newA.bal[j] <== aBal[j] + stepA[j];
    }
    component pathNewA = MerkleRoot(D);
    pathNewA.leaf <== newA.leaf;
    for (var i = 0; i < D; i++) {
        pathNewA.bits[i] <== accBits.out[i];
    }
    for (var i = 0; i < D \ 2; i++) {
        for (var j = 0; j < 3; j++) {
            pathNewA.siblings[i][j] <== aSib[i][j];
        }
    }

    // ---- account B (transfer recipient) ----
    component oldB = AccountLeaf(T);
    oldB.owner <== bOwner;
    oldB.nonce <== bNonce;
    for (var j = 0; j < T; j++) { oldB.bal[j] <== bBal[j]; }
    component emptyB = AbsentIsEmpty(T);
    emptyB.exists <== oldB.exists;
    emptyB.nonce <== bNonce;
    for (var j = 0; j < T; j++) { emptyB.bal[j] <== bBal[j]; }
    component pathOldB = MerkleRoot(D);
    pathOldB.leaf <== oldB.leaf;
    for (var i = 0; i < D; i++) {
        pathOldB.bits[i] <== bBits.out[i];
    }
    for (var i = 0; i < D \ 2; i++) {
        for (var j = 0; j < 3; j++) {
            pathOldB.siblings[i][j] <== bSib[i][j];
        }
    }
    pathOldB.root === pathNewA.root;
    f[2] * (1 - oldB.exists) === 0;

    signal selB[T];
    var balB = 0;
    for (var j = 0; j < T; j++) {
        selB[j] <== tf[j] * bBal[j];
        balB += selB[j];
    }
    signal deltaB <== f[2] * amount;
    component rangeB = Num2Bits(128);
    rangeB.in <== balB + deltaB;
    component newB = AccountLeaf(T);
    newB.owner <== bOwner;
    newB.nonce <== bNonce;
    signal stepB[T];
    for (var j = 0; j < T; j++) {
        stepB[j] <== tf[j] * deltaB;
        newB.bal[j] <== bBal[j] + stepB[j];
    }
    component pathNewB = MerkleRoot(D);
    pathNewB.leaf <== newB.leaf;
    for (var i = 0; i < D; i++) {
        pathNewB.bits[i] <== bBits.out[i];
    }
    for (var i = 0; i < D \ 2; i++) {
        for (var j = 0; j < 3; j++) {
            pathNewB.siblings[i][j] <== bSib[i][j];
        }
    }
    rootOut <== pathNewB.root;
}

template RollupBlock(D, T, K) {
    signal input old_root;
    signal input new_root;
    signal input block_number;
    signal input pubdata[2 * K];
    signal input a_owner[K];
    signal input a_nonce[K];
    signal input a_bal[K][T];
    signal input a_sib[K][D \ 2][3];
    signal input b_owner[K];
    signal input b_nonce[K];
    signal input b_bal[K][T];
    signal input b_sib[K][D \ 2][3];

    // bind block_number (a public input that no other constraint uses)
    signal blockSquare <== block_number * block_number;

    component slot[K];
    for (var s = 0; s < K; s++) {
        slot[s] = OpSlot(D, T);
        slot[s].p[0] <== pubdata[2 * s];
        slot[s].p[1] <== pubdata[2 * s + 1];
        slot[s].rootIn <== s == 0 ? old_root : slot[s - 1].rootOut;
        slot[s].aOwner <== a_owner[s];
        slot[s].aNonce <== a_nonce[s];
        slot[s].bOwner <== b_owner[s];
        slot[s].bNonce <== b_nonce[s];
        for (var j = 0; j < T; j++) {
            slot[s].aBal[j] <== a_bal[s][j];
            slot[s].bBal[j] <== b_bal[s][j];
        }
        for (var i = 0; i < D \ 2; i++) {
            for (var j = 0; j < 3; j++) {
                slot[s].aSib[i][j] <== a_sib[s][i][j];
                slot[s].bSib[i][j] <== b_sib[s][i][j];
            }
        }
    }
    slot[K - 1].rootOut === new_root;
}
