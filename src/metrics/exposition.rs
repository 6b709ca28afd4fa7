//! The exposition as ready bytes. Each piece of text is kept twice: as text,
//! and as a raw deflate stream ended by a sync flush (byte-aligned, not
//! final). Any sequence of pieces then makes one valid gzip member: a
//! header, the pieces' deflate streams back to back, an empty final block,
//! and the CRC-32 and length of the whole, the CRC combined from the
//! pieces' own. Nothing is compressed at scrape time, and the result is a
//! single-member gzip stream that every client reads.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};
use std::sync::Arc;

/// The deflate level: 6 is zlib's default, a good ratio for repetitive
/// text at a cost paid once per poll, not per scrape.
const LEVEL: u32 = 6;

/// gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// An empty final block with fixed codes: BFINAL=1, BTYPE=01, end-of-block.
const FINAL_BLOCK: &[u8] = &[0x03, 0x00];

/// Parts smaller than this are copied together when joined: a few large
/// parts go out in one vectored write, many tiny ones would not.
const SMALL_PART: usize = 64 * 1024;

/// One piece of the exposition, as text and deflated.
#[derive(Clone, Debug, Default)]
pub struct Chunk {
    /// `None` once released (see [`Chunk::without_text`]).
    text: Option<Bytes>,
    len: usize,
    /// `None` if compressing failed: the gzip body is then not offered.
    deflated: Option<Bytes>,
    crc: u32,
}

impl Chunk {
    /// A piece holding `text`, compressed now.
    pub fn new(mut text: Vec<u8>) -> Chunk {
        // Bytes keeps the whole allocation: do not keep the slack too.
        text.shrink_to_fit();
        let deflated = if text.is_empty() {
            Some(Bytes::new())
        } else {
            deflate_sync(&text).map(Bytes::from)
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        Chunk {
            crc: crc.finalize(),
            len: text.len(),
            text: Some(Bytes::from(text)),
            deflated,
        }
    }

    /// The same piece with its text let go, the deflated form kept: a
    /// joined body then has gzip only.
    pub fn without_text(&self) -> Chunk {
        Chunk {
            text: None,
            ..self.clone()
        }
    }

    /// The text, unless let go.
    pub fn text(&self) -> Option<&Bytes> {
        self.text.as_ref()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, text and deflated.
    pub fn held_bytes(&self) -> usize {
        self.text.as_ref().map_or(0, Bytes::len) + self.deflated.as_ref().map_or(0, Bytes::len)
    }
}

/// Raw deflate of `input`, ended by a sync flush; `None` if the compressor
/// fails, which it does not on sound input.
fn deflate_sync(input: &[u8]) -> Option<Vec<u8>> {
    let mut compressor = Compress::new(Compression::new(LEVEL), false);
    let mut out = Vec::with_capacity(input.len() / 8 + 64);
    // Each round at least doubles the room; 64 rounds is beyond any input.
    for _ in 0..64 {
        let read = usize::try_from(compressor.total_in()).ok()?;
        compressor
            .compress_vec(input.get(read..)?, &mut out, FlushCompress::Sync)
            .ok()?;
        // The flush is complete once input is used up and room is left.
        if compressor.total_in() == input.len() as u64 && out.len() < out.capacity() {
            out.shrink_to_fit();
            return Some(out);
        }
        out.reserve(out.capacity().max(64));
    }
    None
}

/// A body ready to send: its parts in order, and their total length.
#[derive(Clone, Debug, Default)]
pub struct Body {
    /// The parts, sent one after the other.
    pub parts: Arc<[Bytes]>,
    /// Their total length.
    pub len: u64,
}

impl Body {
    /// The whole body in one buffer (for tests and small callers).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len as usize);
        for part in self.parts.iter() {
            out.extend_from_slice(part);
        }
        out
    }
}

/// The same exposition as text and as gzip.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    /// `text/plain` as is, unless a piece's text is being rendered anew.
    pub text: Option<Body>,
    /// The gzip body, unless a piece failed to compress.
    pub gzip: Option<Body>,
}

/// Collects parts, copying runs of small ones into one.
#[derive(Default)]
struct Parts {
    parts: Vec<Bytes>,
    small: Vec<u8>,
    len: u64,
}

impl Parts {
    fn push(&mut self, part: &Bytes) {
        self.len += part.len() as u64;
        if part.len() < SMALL_PART {
            self.small.extend_from_slice(part);
        } else {
            self.flush();
            self.parts.push(part.clone());
        }
    }

    fn flush(&mut self) {
        if !self.small.is_empty() {
            self.parts.push(Bytes::from(std::mem::take(&mut self.small)));
        }
    }

    fn finish(mut self) -> Body {
        self.flush();
        Body {
            parts: self.parts.into(),
            len: self.len,
        }
    }
}

/// Joins `chunks`, in order, into the text body and the gzip body; empty
/// chunks are left out.
pub fn join<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Ready {
    let mut text = Parts::default();
    let mut gzip = Parts::default();
    gzip.push(&Bytes::from_static(GZIP_HEADER));
    let (mut text_ok, mut gzip_ok) = (true, true);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        match &chunk.text {
            Some(t) => text.push(t),
            None => text_ok = false,
        }
        len += chunk.len as u64;
        crc.combine(&crc32fast::Hasher::new_with_initial_len(chunk.crc, chunk.len as u64));
        match &chunk.deflated {
            Some(d) => gzip.push(d),
            None => gzip_ok = false,
        }
    }
    let mut tail = FINAL_BLOCK.to_vec();
    tail.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952).
    tail.extend_from_slice(&(len as u32).to_le_bytes());
    gzip.push(&Bytes::from(tail));
    Ready {
        text: text_ok.then(|| text.finish()),
        gzip: gzip_ok.then(|| gzip.finish()),
    }
}

/// Appends `value` as a label value: backslash, double quote and line feed
/// escaped, as the text format requires.
pub fn push_label_value(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a gauge family.
pub fn gauge_header(name: &str, help: &str) -> Vec<u8> {
    // Help texts are fixed strings without backslashes or line feeds.
    format!("# HELP {name} {help}\n# TYPE {name} gauge\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip_single_member(body: &[u8]) -> Vec<u8> {
        // GzDecoder reads one member only: this proves the body is one.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn pieces_compressed_apart_make_one_gzip_member() {
        let a = Chunk::new(b"# HELP x y\n# TYPE x gauge\n".to_vec());
        let big: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("x{{id=\"{i}\"}} {i}\n").into_bytes())
            .collect();
        let b = Chunk::new(big.clone());
        let empty = Chunk::new(Vec::new());
        let c = Chunk::new("tail \u{65e5}\n".as_bytes().to_vec());
        let ready = join([&a, &empty, &b, &c]);
        let joined = ready.text.expect("all text is there");
        let text = joined.to_vec();
        assert_eq!(text.len() as u64, joined.len);
        // The small pieces around the large one are copied together.
        assert_eq!(joined.parts.len(), 3);
        assert_eq!(joined.parts[1].len(), big.len());
        let gzip = ready.gzip.expect("compressed");
        let bytes = gzip.to_vec();
        assert_eq!(bytes.len() as u64, gzip.len);
        assert_eq!(gunzip_single_member(&bytes), text);
        assert!(bytes.len() * 3 < text.len(), "{} of {}", bytes.len(), text.len());
        // Any order and any subset are valid too.
        let (a_text, c_text) = (a.text().unwrap(), c.text().unwrap());
        assert_eq!(
            gunzip_single_member(&join([&c, &a]).gzip.unwrap().to_vec()),
            [c_text.as_ref(), a_text.as_ref()].concat()
        );
        // With a piece's text let go there is no text body; gzip is whole.
        let partial = join([&a, &b.without_text(), &c]);
        assert!(partial.text.is_none());
        assert_eq!(gunzip_single_member(&partial.gzip.unwrap().to_vec()), text);
    }

    #[test]
    fn an_empty_exposition_is_a_valid_empty_gzip() {
        let ready = join([]);
        assert_eq!(ready.text.unwrap().len, 0);
        assert!(gunzip_single_member(&ready.gzip.unwrap().to_vec()).is_empty());
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        push_label_value(&mut out, "a\"b\\c\nd \u{65e5}");
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\"b\\\\c\\nd \u{65e5}");
    }
}
