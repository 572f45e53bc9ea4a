# pragma version ~=0.4.3
# @license GPL-3.0-or-later
"""
@title One shared revert site for the named errors of the main contract
@notice `assert cond, "Code"` makes Vyper inline the Error(string) encoding at every assert
        (about 140 bytes each: 6.4 kB of the main contract's 14.4 kB). Routing every check
        through `check` keeps the codes and the Error(string) ABI while leaving room under
        the 24,576-byte limit for the oracle gate module.
"""


@internal
@pure
def check(ok: bool, code: String[32]):
    """
    @notice Revert with Error(`code`) unless `ok`.
    """
    if not ok:
        raise code
