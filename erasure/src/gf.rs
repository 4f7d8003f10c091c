//! Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the
//! field ISA-L uses. This is the reference arithmetic: the tables are computed at
//! compile time, so the field can never drift from what is on disk.
//!
//! Invariants: `mul` is the field product, `inv(a) * a == 1` for every `a != 0`, and
//! `inv(0) == 0` (ISA-L's convention; never used for a real inverse).

/// The reduction polynomial without its x^8 term.
const POLYNOMIAL_LOW: u8 = 0x1D;

/// `EXP[i] = 2^i`, doubled in length so `EXP[log a + log b]` needs no reduction.
const EXP: [u8; 512] = exp_table();
/// `LOG[a]` for `a != 0`; `LOG[0]` is unused.
const LOG: [u8; 256] = log_table();
/// `MUL[a][b] = a * b`: 64 KiB, used by the naive engine's inner loop.
pub(crate) static MUL: [[u8; 256]; 256] = mul_table();

const fn double(a: u8) -> u8 {
    let shifted = a << 1;
    if a & 0x80 == 0 {
        shifted
    } else {
        shifted ^ POLYNOMIAL_LOW
    }
}

const fn exp_table() -> [u8; 512] {
    let mut table = [0u8; 512];
    let mut value = 1u8;
    let mut i = 0;
    while i < 512 {
        table[i] = value;
        value = double(value);
        i += 1;
    }
    table
}

const fn log_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 255 {
        table[EXP[i] as usize] = i as u8;
        i += 1;
    }
    table
}

const fn mul_const(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    EXP[LOG[a as usize] as usize + LOG[b as usize] as usize]
}

// Evaluated at compile time only, so the 64 KiB local never lives on a real stack.
#[allow(clippy::large_stack_arrays)]
const fn mul_table() -> [[u8; 256]; 256] {
    let mut table = [[0u8; 256]; 256];
    let mut a = 0;
    while a < 256 {
        let mut b = 0;
        while b < 256 {
            table[a][b] = mul_const(a as u8, b as u8);
            b += 1;
        }
        a += 1;
    }
    table
}

/// The field product `a * b`.
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    mul_const(a, b)
}

/// The multiplicative inverse of `a`; `inv(0) == 0` by convention.
pub(crate) fn inv(a: u8) -> u8 {
    if a == 0 {
        return 0;
    }
    EXP[255 - LOG[a as usize] as usize]
}

/// `output ^= coefficient * input`, byte by byte.
pub(crate) fn mul_add(coefficient: u8, input: &[u8], output: &mut [u8]) {
    assert_eq!(input.len(), output.len());
    let row = &MUL[coefficient as usize];
    for (out, byte) in output.iter_mut().zip(input) {
        *out ^= row[*byte as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Multiplication by shift-and-add agrees with the table product for every pair.
    #[test]
    fn mul_matches_carryless_reduction() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let mut product = 0u8;
                let mut x = a;
                let mut y = b;
                while y != 0 {
                    if y & 1 == 1 {
                        product ^= x;
                    }
                    x = double(x);
                    y >>= 1;
                }
                assert_eq!(mul(a, b), product, "{a} * {b}");
            }
        }
    }

    /// Every non-zero element times its inverse is one.
    #[test]
    fn inverse_is_inverse() {
        assert_eq!(inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "a = {a}");
        }
    }
}
