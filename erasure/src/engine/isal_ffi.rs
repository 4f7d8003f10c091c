//! The only `unsafe` in `shoal-erasure`: a safe wrapper over the four ISA-L calls the
//! ISA-L engine needs (`gf_gen_cauchy1_matrix`, `gf_invert_matrix`, `ec_init_tables`,
//! `ec_encode_data`).
//!
//! Each wrapper checks, with assertions kept in release builds, every size ISA-L
//! trusts blindly (matrix and table lengths, pointer counts, chunk lengths), so no
//! caller of these safe functions can make ISA-L read or write out of bounds. ISA-L
//! says "shard" for what Shoal calls a chunk; the word stops here.
#![allow(unsafe_code)]

use std::os::raw::c_int;

use erasure_isa_l_sys as sys;

use crate::{CHUNKS_MAX, DATA_CHUNKS_MAX};

/// Bytes of expanded table ISA-L needs per matrix coefficient.
pub(crate) const TABLE_BYTES_PER_COEFFICIENT: usize = 32;

/// The longest run ISA-L is handed at once (its lengths are `int`).
const RUN_BYTES_MAX: usize = 1 << 30;

/// `value` as ISA-L's `int`; every caller passes a bounded size, so this cannot fail.
fn to_c_int(value: usize) -> c_int {
    c_int::try_from(value).expect("sizes passed to ISA-L fit in an int")
}

/// Fills `out` (`rows x k`) with ISA-L's Cauchy generator.
pub(crate) fn gen_cauchy1_matrix(rows: usize, k: usize, out: &mut [u8]) {
    assert!(k <= DATA_CHUNKS_MAX && rows <= CHUNKS_MAX && k <= rows);
    assert!(out.len() >= rows * k);
    // SAFETY: ISA-L writes exactly rows * k bytes at `out`, which holds at least that
    // many (asserted above); rows and k are small, so the int conversion is exact.
    unsafe { sys::gf_gen_cauchy1_matrix(out.as_mut_ptr(), to_c_int(rows), to_c_int(k)) }
}

/// Inverts the `n x n` matrix `input` (destroyed) into `out`; false if singular.
pub(crate) fn invert_matrix(input: &mut [u8], out: &mut [u8], n: usize) -> bool {
    assert!(n <= DATA_CHUNKS_MAX);
    assert!(input.len() >= n * n && out.len() >= n * n);
    // SAFETY: ISA-L reads and writes n * n bytes of each matrix; both hold at least
    // that many (asserted above) and do not overlap (two distinct &mut borrows).
    let status =
        unsafe { sys::gf_invert_matrix(input.as_mut_ptr(), out.as_mut_ptr(), to_c_int(n)) };
    status == 0
}

/// Expands `coefficients` (`rows x k`) into ISA-L's multiplication tables.
pub(crate) fn init_tables(k: usize, rows: usize, coefficients: &[u8], tables: &mut [u8]) {
    assert!(k <= DATA_CHUNKS_MAX && rows <= CHUNKS_MAX);
    assert!(coefficients.len() >= rows * k);
    assert!(tables.len() >= rows * k * TABLE_BYTES_PER_COEFFICIENT);
    // SAFETY: ISA-L reads rows * k coefficients and writes 32 bytes per coefficient;
    // both slices are at least that long (asserted above). ISA-L takes the
    // coefficient pointer as mutable but only reads through it.
    unsafe {
        sys::ec_init_tables(
            to_c_int(k),
            to_c_int(rows),
            coefficients.as_ptr().cast_mut(),
            tables.as_mut_ptr(),
        );
    }
}

/// `outputs[r] = sum over j of matrix[r][j] * sources[j]`, with `tables` from
/// [`init_tables`] for that `rows x k` matrix (`rows == outputs.len()`).
pub(crate) fn encode_data(tables: &[u8], sources: &[&[u8]], outputs: &mut [&mut [u8]]) {
    let k = sources.len();
    let rows = outputs.len();
    assert!((1..=DATA_CHUNKS_MAX).contains(&k) && rows <= DATA_CHUNKS_MAX);
    assert!(tables.len() >= rows * k * TABLE_BYTES_PER_COEFFICIENT);
    let len = sources[0].len();
    assert!(sources.iter().all(|source| source.len() == len));
    assert!(outputs.iter().all(|output| output.len() == len));
    let mut start = 0;
    while start < len && rows > 0 {
        let run = (len - start).min(RUN_BYTES_MAX);
        encode_run(tables, sources, outputs, start, run);
        start += run;
    }
}

/// One call of `ec_encode_data` over bytes `start..start + run` of every chunk.
fn encode_run(
    tables: &[u8],
    sources: &[&[u8]],
    outputs: &mut [&mut [u8]],
    start: usize,
    run: usize,
) {
    let mut source_pointers = [std::ptr::null_mut::<u8>(); DATA_CHUNKS_MAX];
    for (pointer, source) in source_pointers.iter_mut().zip(sources) {
        *pointer = source[start..start + run].as_ptr().cast_mut();
    }
    let mut output_pointers = [std::ptr::null_mut::<u8>(); DATA_CHUNKS_MAX];
    for (pointer, output) in output_pointers.iter_mut().zip(outputs.iter_mut()) {
        *pointer = output[start..start + run].as_mut_ptr();
    }
    // SAFETY: the first k source and `rows` output pointers each point at `run` valid
    // bytes (sliced above, run <= i32::MAX); tables hold 32 * k * rows bytes (asserted
    // by the caller). Outputs are distinct &mut slices, so they overlap neither each
    // other nor the shared sources. ISA-L only reads through the source pointers
    // (they are mutable in its signature only) and does not keep any pointer.
    unsafe {
        sys::ec_encode_data(
            to_c_int(run),
            to_c_int(sources.len()),
            to_c_int(outputs.len()),
            tables.as_ptr().cast_mut(),
            source_pointers.as_mut_ptr(),
            output_pointers.as_mut_ptr(),
        );
    }
}
