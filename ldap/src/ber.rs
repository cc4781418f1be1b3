//! BER writing (X.690) for the responses the server encodes by hand because going through
//! `ldap3_proto`'s message types costs too much on hot paths.
//!
//! Everything here writes the form `ldap3_lber` writes, so that a hand-encoded message is the
//! same octets a client would get from the library: definite lengths, short form below 128,
//! otherwise long form with as few length octets as possible, and integers in their minimal
//! two's-complement octets. Lengths are computed before writing so that a caller can size its
//! buffer once.
//!
//! What a received message's BER must keep before it is read is [`check`]'s.

pub mod check;

use bytes::{BufMut, BytesMut};

pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
/// Universal 16, constructed.
pub const SEQUENCE: u8 = 0x30;
/// Universal 17, constructed.
pub const SET: u8 = 0x31;

/// Octets taken by the length field for `len` content octets.
pub fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + long_length_octets(len)
    }
}

/// Octets of a long-form length after its first octet: the significant octets of `len`.
fn long_length_octets(len: usize) -> usize {
    (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
}

/// Octets taken by an element with a one-octet tag and `len` content octets.
pub fn element_len(len: usize) -> usize {
    1 + length_len(len) + len
}

/// Writes a one-octet tag and the length field; the caller writes the `len` content octets.
pub fn write_header(buf: &mut BytesMut, tag: u8, len: usize) {
    buf.put_u8(tag);
    if len < 0x80 {
        // Short form: fits in seven bits.
        buf.put_u8(len as u8);
    } else {
        let n = long_length_octets(len);
        let octets = len.to_be_bytes();
        // `n` is at most the size of a usize (at most 8), so it fits the seven bits and the
        // slice start is in range.
        buf.put_u8(0x80 | n as u8);
        buf.put_slice(&octets[octets.len() - n..]);
    }
}

/// Writes a primitive element whose content is `content`.
pub fn write_octets(buf: &mut BytesMut, tag: u8, content: &[u8]) {
    write_header(buf, tag, content.len());
    buf.put_slice(content);
}

/// Big-endian octets of `v` and the index of the first one that BER keeps: leading octets are
/// redundant while they and the next octet's top bit are all zeros or all ones (X.690 §8.3.2).
fn integer_octets(v: i64) -> ([u8; 8], usize) {
    let octets = v.to_be_bytes();
    let start = octets
        .windows(2)
        .take_while(|w| matches!((w[0], w[1] & 0x80), (0x00, 0) | (0xff, 0x80)))
        .count();
    (octets, start)
}

/// Octets taken by an INTEGER element holding `v`.
pub fn integer_len(v: i64) -> usize {
    let (octets, start) = integer_octets(v);
    element_len(octets.len() - start)
}

/// Writes an INTEGER element.
///
/// For negative values this deliberately differs from `ldap3_lber` 0.9, which sizes them by
/// their magnitude and so truncates e.g. -129 to the single octet 0x7f (which reads back as
/// 127). Message ids are never negative (RFC 4511 `MessageID ::= INTEGER (0 .. maxInt)`), so
/// for every message the server sends the two agree.
pub fn write_integer(buf: &mut BytesMut, v: i64) {
    let (octets, start) = integer_octets(v);
    write_octets(buf, INTEGER, &octets[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_lber::common::TagClass;
    use ldap3_lber::structure::{PL, StructureTag};
    use ldap3_lber::structures::{ASNTag, Integer};

    fn lber(tag: StructureTag) -> Vec<u8> {
        let mut buf = BytesMut::new();
        ldap3_lber::write::encode_into(&mut buf, tag).expect("encode");
        buf.to_vec()
    }

    fn lber_integer(v: i64) -> Vec<u8> {
        lber(
            Integer {
                inner: v,
                ..Default::default()
            }
            .into_structure(),
        )
    }

    fn ours_integer(v: i64) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_integer(&mut buf, v);
        assert_eq!(buf.len(), integer_len(v), "integer_len({v})");
        buf.to_vec()
    }

    fn ours_header(len: usize) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_header(&mut buf, OCTET_STRING, len);
        assert_eq!(buf.len(), 1 + length_len(len), "length_len({len})");
        buf.to_vec()
    }

    /// Every value whose encoding changes size, both sides of it.
    fn boundaries() -> Vec<i64> {
        let mut v = vec![i64::MAX, i64::MIN + 1, i64::MIN];
        for bits in [7, 8, 15, 16, 23, 24, 31, 32, 39, 40, 47, 48, 55, 56, 62] {
            let p = 1i64 << bits;
            v.extend([p - 1, p, p + 1, -p - 1, -p, -p + 1]);
        }
        v
    }

    #[test]
    fn non_negative_integers_match_ldap3_lber() {
        let mut values: Vec<i64> = (0..=70_000).collect();
        values.extend([
            i32::MAX as i64 - 1,
            i32::MAX as i64,
            1 << 31,
            u32::MAX as i64,
            i64::MAX,
        ]);
        values.extend(boundaries().into_iter().filter(|v| *v >= 0));
        for v in values {
            assert_eq!(ours_integer(v), lber_integer(v), "{v}");
        }
    }

    #[test]
    fn message_id_integers_are_exact() {
        for (v, expected) in [
            (0, &[0x02, 0x01, 0x00][..]),
            (1, &[0x02, 0x01, 0x01]),
            (127, &[0x02, 0x01, 0x7f]),
            (128, &[0x02, 0x02, 0x00, 0x80]),
            (255, &[0x02, 0x02, 0x00, 0xff]),
            (256, &[0x02, 0x02, 0x01, 0x00]),
            (32767, &[0x02, 0x02, 0x7f, 0xff]),
            (32768, &[0x02, 0x03, 0x00, 0x80, 0x00]),
            (65535, &[0x02, 0x03, 0x00, 0xff, 0xff]),
            (i32::MAX as i64, &[0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]),
        ] {
            assert_eq!(ours_integer(v), expected, "{v}");
            assert_eq!(lber_integer(v), expected, "{v}");
        }
    }

    #[test]
    fn negative_integers_are_minimal_twos_complement() {
        for (v, expected) in [
            (-1, &[0x02, 0x01, 0xff][..]),
            (-128, &[0x02, 0x01, 0x80]),
            (-129, &[0x02, 0x02, 0xff, 0x7f]),
            (-255, &[0x02, 0x02, 0xff, 0x01]),
            (-256, &[0x02, 0x02, 0xff, 0x00]),
            (-32768, &[0x02, 0x02, 0x80, 0x00]),
            (-32769, &[0x02, 0x03, 0xff, 0x7f, 0xff]),
            (i32::MIN as i64, &[0x02, 0x04, 0x80, 0x00, 0x00, 0x00]),
            (
                i64::MIN,
                &[0x02, 0x08, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            ),
        ] {
            assert_eq!(ours_integer(v), expected, "{v}");
        }
        // Where ldap3_lber gets negatives right (its size by magnitude is also the minimal
        // two's-complement size), the octets are the same.
        for v in (-128..0).chain([-256, -32768, -65536, i32::MIN as i64 + 1]) {
            assert_eq!(ours_integer(v), lber_integer(v), "{v}");
        }
        // And this is where it does not: -129 comes out as 127.
        assert_eq!(lber_integer(-129), [0x02, 0x01, 0x7f]);
    }

    #[test]
    fn integers_read_back_from_minimal_octets() {
        for v in boundaries().into_iter().chain(-70_000..=70_000) {
            let bytes = ours_integer(v);
            assert_eq!(bytes[0], INTEGER);
            assert_eq!(bytes[1] as usize, bytes.len() - 2, "{v}");
            let content = &bytes[2..];
            let first = content[0] as i8 as i64;
            let back = content[1..]
                .iter()
                .fold(first, |acc, b| (acc << 8) | *b as i64);
            assert_eq!(back, v);
            // Minimal: the first nine bits are not all zeros or all ones.
            if let [a, b, ..] = content {
                assert!(!matches!((a, b & 0x80), (0x00, 0) | (0xff, 0x80)), "{v}");
            }
        }
    }

    #[test]
    fn lengths_match_ldap3_lber() {
        let mut lens: Vec<usize> = (0..=1_000).collect();
        lens.extend([
            65_534, 65_535, 65_536, 65_537, 70_000, 16_777_215, 16_777_216,
        ]);
        for len in lens {
            let content = vec![0x5a; len];
            let expected = lber(StructureTag {
                class: TagClass::Universal,
                id: 4,
                payload: PL::P(content.clone()),
            });
            let mut buf = BytesMut::new();
            write_octets(&mut buf, OCTET_STRING, &content);
            assert_eq!(buf.len(), element_len(len), "element_len({len})");
            // Comparing the whole element would report megabytes on failure; the content is a
            // copy, so the headers and total lengths say it all.
            assert_eq!(buf.len(), expected.len(), "{len}");
            let header = expected.len() - len;
            assert_eq!(buf[..header], expected[..header], "{len}");
        }
    }

    #[test]
    fn long_lengths_use_the_fewest_octets() {
        for (len, expected) in [
            (0, &[0x04, 0x00][..]),
            (127, &[0x04, 0x7f]),
            (128, &[0x04, 0x81, 0x80]),
            (255, &[0x04, 0x81, 0xff]),
            (256, &[0x04, 0x82, 0x01, 0x00]),
            (65_535, &[0x04, 0x82, 0xff, 0xff]),
            (65_536, &[0x04, 0x83, 0x01, 0x00, 0x00]),
            (16_777_216, &[0x04, 0x84, 0x01, 0x00, 0x00, 0x00]),
            (u32::MAX as usize, &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
        ] {
            assert_eq!(ours_header(len), expected, "{len}");
        }
        let max = ours_header(usize::MAX);
        let n = std::mem::size_of::<usize>();
        assert_eq!(max.len(), 2 + n);
        assert_eq!(max[1], 0x80 | n as u8);
        assert!(max[2..].iter().all(|b| *b == 0xff));
    }
}
