//! Batch frames: for a client that opted in (`?batch=1` at the upgrade), the hub messages of one drain
//! go out as one WebSocket message `{"type":"batch","messages":[m1, m2, …]}` instead of one frame each.
//!
//! Each message keeps the bytes the hub encoded once per publication; a batch only adds a header and
//! separators (JSON) or a map and array header (MessagePack), so the per-connection cost is one copy of
//! the payloads, while the client parses one message instead of one per publication. A message
//! that arrives gzipped (over the hub's compression threshold, on a connection that accepts gzip) goes
//! alone, between batches, so order is kept; so does a batch of one. A batch frame (header included)
//! stays within [`BATCH_BYTES`], below every common client's message limit (Python `websockets`:
//! 1 MiB).

use super::session::frame;
use crate::codec::{is_gzip, Format};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use tokio_tungstenite::tungstenite::Message;

/// Largest batch frame, header included (a bigger single message still goes, alone).
pub(crate) const BATCH_BYTES: usize = 64 << 10;

const JSON_OPEN: &[u8] = br#"{"type":"batch","messages":["#;
const JSON_CLOSE: &[u8] = b"]}";
/// The longest MessagePack batch header: map of 2, the three strings, an array length of 5 bytes.
const MSGPACK_HEAD_MAX: usize = 1 + 5 + 6 + 9 + 5;

/// Gathers the hub messages of one drain into batch frames, in order.
#[derive(Debug)]
pub(crate) struct Batcher {
    format: Format,
    parts: Vec<Bytes>,
    bytes: usize,
}

impl Batcher {
    /// An empty batcher writing `format` frames.
    pub(crate) fn new(format: Format) -> Self {
        Batcher {
            format,
            parts: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds one encoded hub message; a full batch, or a gzipped message (after the batch before it),
    /// goes to `out`.
    pub(crate) fn push(&mut self, bytes: Bytes, out: &mut VecDeque<Message>) {
        if is_gzip(&bytes) {
            self.finish(out);
            out.push_back(frame(self.format, bytes));
            return;
        }
        if !self.parts.is_empty()
            && self.framed(self.bytes + bytes.len(), self.parts.len() + 1) > BATCH_BYTES
        {
            self.finish(out);
        }
        self.bytes += bytes.len();
        self.parts.push(bytes);
    }

    /// The size of a batch frame of `n` messages holding `payload` bytes (at most, for MessagePack).
    fn framed(&self, payload: usize, n: usize) -> usize {
        match self.format {
            Format::Json => JSON_OPEN.len() + payload + n.saturating_sub(1) + JSON_CLOSE.len(),
            Format::MsgPack => MSGPACK_HEAD_MAX + payload,
        }
    }

    /// Sends what is gathered: nothing, the one message as it is, or a batch frame.
    pub(crate) fn finish(&mut self, out: &mut VecDeque<Message>) {
        self.bytes = 0;
        match self.parts.len() {
            0 => {}
            1 => {
                if let Some(only) = self.parts.pop() {
                    out.push_back(frame(self.format, only));
                }
            }
            _ => {
                let joined = join(self.format, &self.parts);
                self.parts.clear();
                out.push_back(frame(self.format, joined));
            }
        }
    }
}

/// One batch message holding `parts` (each a complete encoded message, not gzipped).
pub(crate) fn join(format: Format, parts: &[Bytes]) -> Bytes {
    let payload: usize = parts.iter().map(Bytes::len).sum();
    match format {
        Format::Json => {
            let mut b = BytesMut::with_capacity(JSON_OPEN.len() + payload + parts.len() + 2);
            b.put_slice(JSON_OPEN);
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    b.put_u8(b',');
                }
                b.put_slice(p);
            }
            b.put_slice(JSON_CLOSE);
            b.freeze()
        }
        Format::MsgPack => {
            let mut head = Vec::with_capacity(32);
            // Writing into a Vec cannot fail.
            let _ = rmp::encode::write_map_len(&mut head, 2);
            let _ = rmp::encode::write_str(&mut head, "type");
            let _ = rmp::encode::write_str(&mut head, "batch");
            let _ = rmp::encode::write_str(&mut head, "messages");
            let _ = rmp::encode::write_array_len(&mut head, parts.len() as u32);
            let mut b = BytesMut::with_capacity(head.len() + payload);
            b.put_slice(&head);
            for p in parts {
                b.put_slice(p);
            }
            b.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, Value};

    fn msg(format: Format, seq: i64) -> Bytes {
        let v = Value::Map(vec![
            ("type".into(), "update".into()),
            ("seq".into(), Value::Int(seq)),
        ]);
        Bytes::from(
            Codec {
                compress_over: None,
                ..Codec::new(format)
            }
            .encode(&v)
            .unwrap(),
        )
    }

    fn payload(m: &Message) -> Vec<u8> {
        match m {
            Message::Binary(b) => b.to_vec(),
            Message::Frame(f) => f.payload().to_vec(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_batch_decodes_to_the_messages_in_order() {
        for format in [Format::Json, Format::MsgPack] {
            let parts: Vec<Bytes> = (1..=3).map(|s| msg(format, s)).collect();
            let joined = join(format, &parts);
            let v = Codec::new(format).decode(&joined).unwrap();
            assert_eq!(v.get("type"), Some(&Value::from("batch")));
            let Some(Value::Array(items)) = v.get("messages") else {
                panic!("no messages in {v:?}")
            };
            let seqs: Vec<_> = items.iter().map(|m| m.get("seq").cloned()).collect();
            assert_eq!(
                seqs,
                vec![
                    Some(Value::Int(1)),
                    Some(Value::Int(2)),
                    Some(Value::Int(3))
                ]
            );
        }
    }

    #[test]
    fn one_message_goes_as_it_is_and_gzip_splits_the_batch() {
        let mut out = VecDeque::new();
        let mut b = Batcher::new(Format::Json);
        b.push(msg(Format::Json, 1), &mut out);
        b.finish(&mut out);
        assert_eq!(payload(&out[0]), msg(Format::Json, 1).to_vec());

        out.clear();
        let gz = Bytes::from_static(&[0x1f, 0x8b, 8, 0]);
        b.push(msg(Format::Json, 1), &mut out);
        b.push(msg(Format::Json, 2), &mut out);
        b.push(gz.clone(), &mut out);
        b.push(msg(Format::Json, 3), &mut out);
        b.finish(&mut out);
        assert_eq!(out.len(), 3);
        assert!(payload(&out[0]).starts_with(JSON_OPEN));
        assert!(matches!(&out[1], Message::Binary(g) if *g == gz));
        assert_eq!(payload(&out[2]), msg(Format::Json, 3).to_vec());
    }

    #[test]
    fn a_json_batch_frame_with_its_header_stays_within_the_bound() {
        // Messages sized so that the payloads alone fit exactly: the header and commas must not.
        let mut out = VecDeque::new();
        let mut b = Batcher::new(Format::Json);
        let part = Bytes::from(vec![b'1'; BATCH_BYTES / 4]);
        for _ in 0..4 {
            b.push(part.clone(), &mut out);
        }
        b.finish(&mut out);
        let sizes: Vec<usize> = out.iter().map(|m| payload(m).len()).collect();
        assert_eq!(sizes.len(), 2, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s <= BATCH_BYTES), "{sizes:?}");
    }

    #[test]
    fn a_batch_stops_at_its_byte_bound() {
        let mut out = VecDeque::new();
        let mut b = Batcher::new(Format::MsgPack);
        let big = Bytes::from(vec![0xc0u8; BATCH_BYTES / 2 + 1]);
        for _ in 0..3 {
            b.push(big.clone(), &mut out);
        }
        b.finish(&mut out);
        assert_eq!(out.len(), 3, "each half-bound message alone");
        let small = msg(Format::MsgPack, 1);
        let n = BATCH_BYTES / small.len() + 5;
        for _ in 0..n {
            b.push(small.clone(), &mut out);
        }
        b.finish(&mut out);
        let sizes: Vec<usize> = out.iter().skip(3).map(|m| payload(m).len()).collect();
        assert_eq!(sizes.len(), 2);
        assert!(sizes.iter().all(|s| *s <= BATCH_BYTES), "{sizes:?}");
        assert!(
            sizes[0] > BATCH_BYTES - small.len() - 32,
            "filled: {sizes:?}"
        );
    }
}
