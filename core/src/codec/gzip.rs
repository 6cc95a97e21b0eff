//! Gzip through flate2: compression on one reusable deflate state per thread, and decompression through
//! a capped reader.
//!
//! Why a reusable state: a deflate state is ~270 KB of window and hash tables. Making one per message
//! (as `GzEncoder::new` does) allocates and frees that much for every gzipped publication, and glibc's
//! allocator then leaves each freed block pinned by the small allocations made right after it: a hub
//! keeping gzipped messages in history grew RSS by ~300 KB per message (issue 10). `Compress::reset`
//! reuses the state, so compressing allocates only its output.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;
use std::io::Read;

/// The two magic bytes that start every gzip member (RFC 1952).
const MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Read size while decompressing.
const CHUNK: usize = 64 * 1024;

/// True when `bytes` starts with the gzip magic bytes.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[..2] == MAGIC
}

thread_local! {
    /// This thread's raw deflate state and its level.
    static DEFLATE: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
}

/// Gzips `bytes` at `level` (0–9): one gzip member (RFC 1952) with a raw deflate body, made on this
/// thread's reusable deflate state.
pub fn compress(bytes: &[u8], level: u32) -> Result<Vec<u8>> {
    let level = level.min(9);
    DEFLATE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let state = match &mut *slot {
                Some((l, c)) if *l == level => {
                    c.reset();
                    c
                }
                other => &mut other.insert((level, raw_deflate(level))).1,
            };
            member(state, bytes, level)
        }
        // Only reachable if compress ran inside compress; a fresh state keeps it correct.
        Err(_) => member(&mut raw_deflate(level), bytes, level),
    })
}

fn raw_deflate(level: u32) -> Compress {
    Compress::new(Compression::new(level), false)
}

/// Header, deflate body and trailer of one gzip member. Header: magic, CM = deflate, no flags, no
/// mtime, XFL as zlib writes it (2 = best, 4 = fastest), OS = unknown.
fn member(state: &mut Compress, bytes: &[u8], level: u32) -> Result<Vec<u8>> {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
    out.extend_from_slice(&[MAGIC[0], MAGIC[1], 8, 0, 0, 0, 0, 0, xfl, 255]);
    let mut input = bytes;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let before = state.total_in();
        let status = state
            .compress_vec(input, &mut out, FlushCompress::Finish)
            .map_err(|e| Error::Encode(format!("gzip failed: {e}")))?;
        let used = usize::try_from(state.total_in() - before).unwrap_or(input.len());
        input = &input[used.min(input.len())..];
        if status == Status::StreamEnd {
            break;
        }
    }
    let mut crc = Crc::new();
    crc.update(bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE: the input length modulo 2^32 (RFC 1952).
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    Ok(out)
}

/// Decompresses gzip `bytes` (one or more members), failing with `too_large` as soon as the output would
/// pass `cap` bytes. The output buffer never grows past `cap`.
pub fn decompress(bytes: &[u8], cap: usize) -> Result<Vec<u8>> {
    let mut dec = MultiGzDecoder::new(bytes);
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len().saturating_mul(4).min(cap));
    let mut chunk = vec![0u8; CHUNK.min(cap.saturating_add(1))];
    loop {
        let n = match dec.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) => return Err(Error::Decode(format!("invalid gzip data: {e}"))),
        };
        let needed = out.len() + n;
        if needed > cap {
            return Err(Error::TooLarge {
                what: "decompressed payload",
                limit: cap,
            });
        }
        if needed > out.capacity() {
            // Grow geometrically, but never reserve past the cap.
            let target = needed.max(out.capacity().saturating_mul(2)).min(cap);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}
