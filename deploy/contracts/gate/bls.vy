# pragma version ~=0.4.3
"""
@title BLS12-381 min-sig verification through the EIP-2537 precompiles
@notice Stateless module: `import`, no `initializes:` needed.
        Signatures live in G1 (128-byte EIP-2537 encoding), public keys in G2
        (256 bytes, x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1, each Fp = 16 zero bytes ‖ 48-byte big-endian).
        Messages are 32 bytes, hashed to G1 on-chain with RFC 9380
        hash_to_curve (expand_message_xmd over SHA-256, SSWU, random oracle) and the DST
        BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_.
        Every precompile call gets a fixed gas cap (a failing EIP-2537 call burns all the gas
        it was given) and a failed or short answer counts as "invalid", never as a revert
        inside the precompile, so a rejected signature costs a bounded amount of gas.
"""

MODEXP: constant(address) = 0x0000000000000000000000000000000000000005
G1ADD: constant(address) = 0x000000000000000000000000000000000000000b
PAIRING_CHECK: constant(address) = 0x000000000000000000000000000000000000000F
MAP_FP_TO_G1: constant(address) = 0x0000000000000000000000000000000000000010

# Gas caps: Prague/Osaka prices are G1ADD 375, MAP_FP_TO_G1 5500, pairing 37700 + 32600 k,
# MODEXP (64-byte operands, exponent 1) 200 (EIP-2565) or 500 (EIP-7883). Margins are small on
# purpose: a failing call burns its whole cap.
MODEXP_GAS: constant(uint256) = 1200
G1ADD_GAS: constant(uint256) = 600
MAP_GAS: constant(uint256) = 6000
PAIRING2_GAS: constant(uint256) = 103000

# MODEXP header: base length 64, exponent length 1, modulus length 64 (p left-padded to 64 bytes
# so that the answer is already an EIP-2537 field element).
MODEXP_HEADER: constant(Bytes[96]) = x"000000000000000000000000000000000000000000000000000000000000004000000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000000000040"
EXP_ONE_AND_P: constant(Bytes[65]) = x"01000000000000000000000000000000001a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab"

# DST ‖ I2OSP(len(DST), 1)
DST_PRIME: constant(Bytes[44]) = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_+"
# Z_pad (64 zero bytes) for the first expand_message_xmd block.
Z_PAD: constant(Bytes[64]) = x"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
# I2OSP(128, 2) ‖ I2OSP(0, 1)
LEN_AND_ZERO: constant(Bytes[3]) = x"008000"

# -G2 generator in EIP-2537 encoding.
NEG_G2: constant(Bytes[256]) = x"00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb80000000000000000000000000000000013e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e000000000000000000000000000000000d1b3cc2c7027888be51d9ef691d77bcb679afda66c73f17f9ee3837a55024f78c71363275a75d75d86bab79f74782aa0000000000000000000000000000000013fa4d4a0ad8b1ce186ed5061789213d993923066dddaf1040bc3ff59f825c78df74f2d75467e25e0f55f8a00fa030ed"

# (p - 1) / 2 split into a 16-byte high part and a 32-byte low part (for the G2 sign bit).
HALF_P_HI: constant(uint256) = 17282741772707453034394598013407712875
HALF_P_LO: constant(uint256) = 80617075055843030690312053732876818007934237714091801549733396136033114903893

VALID: constant(uint256) = 0
INVALID: constant(uint256) = 1
MALFORMED: constant(uint256) = 2

# keccak256 of hash_to_g1(bytes32(0)) in EIP-2537 form (computed with consensus.bls).
SELF_TEST_HASH: constant(bytes32) = 0xc5399af6270be5a547144cf370a5dd45ff7c91df7eb6b3bddd63d880e7004761

G1_ZERO_HASH: constant(bytes32) = 0x012893657d8eb2efad4de0a91bcd0e39ad9837745dec3ea923737ea803fc8e3d
G2_ZERO_HASH: constant(bytes32) = 0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5


@internal
@pure
def _precompile_failed():
    """Our own hash-to-curve inputs are always valid: a failed call means a broken chain."""
    raise "BlsPrecompileFailed"


@internal
@view
def _map_wide(wide: bytes32, wide_lo: bytes32) -> Bytes[128]:
    """
    MAP_FP_TO_G1((wide ‖ wide_lo) mod p): the 64-byte integer is reduced with MODEXP (exponent 1)
    straight into an EIP-2537 field element, then mapped (SSWU + isogeny + cofactor clearing).
    """
    ok: bool = False
    fp: Bytes[64] = b""
    ok, fp = raw_call(MODEXP, concat(MODEXP_HEADER, wide, wide_lo, EXP_ONE_AND_P),
                      max_outsize=64, gas=MODEXP_GAS, is_static_call=True,
                      revert_on_failure=False)
    if not ok or len(fp) != 64:
        self._precompile_failed()
    out: Bytes[128] = b""
    ok, out = raw_call(MAP_FP_TO_G1, fp, max_outsize=128, gas=MAP_GAS, is_static_call=True,
                       revert_on_failure=False)
    if not ok or len(out) != 128:
        self._precompile_failed()
    return out


@internal
@view
def hash_to_g1(message: bytes32) -> Bytes[128]:
    """
    @notice RFC 9380 hash_to_curve for a 32-byte message, BLS12-381 G1, SSWU RO, the POP DST.
    @return the point in EIP-2537 encoding (128 bytes)
    """
    b0: bytes32 = sha256(concat(Z_PAD, message, LEN_AND_ZERO, DST_PRIME))
    b1: bytes32 = sha256(concat(b0, x"01", DST_PRIME))
    b2: bytes32 = sha256(concat(
        convert(convert(b0, uint256) ^ convert(b1, uint256), bytes32), x"02", DST_PRIME))
    b3: bytes32 = sha256(concat(
        convert(convert(b0, uint256) ^ convert(b2, uint256), bytes32), x"03", DST_PRIME))
    b4: bytes32 = sha256(concat(
        convert(convert(b0, uint256) ^ convert(b3, uint256), bytes32), x"04", DST_PRIME))
    q0: Bytes[128] = self._map_wide(b1, b2)
    q1: Bytes[128] = self._map_wide(b3, b4)
    ok: bool = False
    out: Bytes[128] = b""
    ok, out = raw_call(G1ADD, concat(q0, q1), max_outsize=128, gas=G1ADD_GAS,
                       is_static_call=True, revert_on_failure=False)
    if not ok or len(out) != 128:
        self._precompile_failed()
    return out


@internal
@view
def check(message: bytes32, signature: Bytes[128], public_key: Bytes[256]) -> uint256:
    """
    @notice Check a min-sig BLS signature (G1, EIP-2537) of `message` under `public_key`
            (G2, EIP-2537): e(sig, -g2) · e(H(message), pk) == 1.
    @return VALID, INVALID (well-formed but wrong) or MALFORMED (wrong length, infinity,
            non-zero padding, off-curve, non-canonical or out-of-subgroup: the pairing
            precompile refuses it). `public_key` must already be a validated key.
    """
    if len(signature) != 128:
        return MALFORMED
    if keccak256(signature) == G1_ZERO_HASH:
        return MALFORMED
    # EIP-2537 pads each 48-byte coordinate with 16 zero bytes.
    if extract32(signature, 0, output_type=uint256) >> 128 != 0:
        return MALFORMED
    if extract32(signature, 64, output_type=uint256) >> 128 != 0:
        return MALFORMED
    h: Bytes[128] = self.hash_to_g1(message)
    ok: bool = False
    out: Bytes[32] = b""
    ok, out = raw_call(PAIRING_CHECK, concat(signature, NEG_G2, h, public_key), max_outsize=32,
                       gas=PAIRING2_GAS, is_static_call=True, revert_on_failure=False)
    if not ok or len(out) != 32:
        return MALFORMED
    if extract32(out, 0, output_type=uint256) == 1:
        return VALID
    return INVALID


@internal
@view
def verify(message: bytes32, signature: Bytes[128], public_key: Bytes[256]) -> bool:
    """@notice True iff `check` says VALID."""
    return self.check(message, signature, public_key) == VALID


@internal
@view
def is_valid_g2(public_key: Bytes[256]) -> bool:
    """
    @notice True iff `public_key` is a canonical, non-infinity G2 point in the prime-order subgroup.
    @dev Pairs it with the G1 infinity point: the precompile runs its encoding, curve and subgroup
         checks on every input and the product is 1 exactly when they pass (~70k gas).
    """
    if len(public_key) != 256 or keccak256(public_key) == G2_ZERO_HASH:
        return False
    ok: bool = False
    out: Bytes[32] = b""
    ok, out = raw_call(PAIRING_CHECK, concat(empty(bytes32), empty(bytes32), empty(bytes32),
                                             empty(bytes32), public_key),
                       max_outsize=32, gas=71000, is_static_call=True, revert_on_failure=False)
    if not ok or len(out) != 32:
        return False
    return extract32(out, 0, output_type=uint256) == 1


@internal
@pure
def _gt_half(public_key: Bytes[256], offset: uint256) -> bool:
    """Is the Fp element at `offset` (EIP-2537, 64 bytes) greater than (p - 1) / 2?"""
    hi: uint256 = extract32(public_key, offset, output_type=uint256)
    lo: uint256 = extract32(public_key, offset + 32, output_type=uint256)
    return hi > HALF_P_HI or (hi == HALF_P_HI and lo > HALF_P_LO)


@internal
@pure
def compress_g2(public_key: Bytes[256]) -> Bytes[96]:
    """
    @notice The 96-byte compressed (ZCash/IETF) form of a non-infinity G2 point given in
            EIP-2537 form: x.c1 ‖ x.c0 with the compression flag and the sign of y.
    """
    y_c1_hi: uint256 = extract32(public_key, 192, output_type=uint256)
    y_c1_lo: uint256 = extract32(public_key, 224, output_type=uint256)
    sign: bool = False
    if y_c1_hi != 0 or y_c1_lo != 0:
        sign = self._gt_half(public_key, 192)
    else:
        sign = self._gt_half(public_key, 128)
    flags: uint256 = 128  # 0x80: compressed
    if sign:
        flags = 160  # 0xa0: compressed | y is the larger root
    x_c1_hi: uint256 = extract32(public_key, 64, output_type=uint256) | (flags << 120)
    return concat(slice(convert(x_c1_hi, bytes32), 16, 16), slice(public_key, 96, 32),
                  slice(public_key, 16, 48))


@internal
@view
def self_test() -> bool:
    """
    @notice Deploy-time check that SHA-256, MODEXP, MAP_FP_TO_G1 and G1ADD behave as this module
            expects: hashes the zero message and compares with a known answer (~20k gas).
    """
    return keccak256(self.hash_to_g1(empty(bytes32))) == SELF_TEST_HASH
