//! Gzip framing through flate2, and decompression through a capped reader.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// The two magic bytes that start every gzip member (RFC 1952).
const MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Read size while decompressing.
const CHUNK: usize = 64 * 1024;

/// True when `bytes` starts with the gzip magic bytes.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[..2] == MAGIC
}

/// Gzips `bytes` at `level` (0–9).
pub fn compress(bytes: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 64),
        Compression::new(level.min(9)),
    );
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
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
