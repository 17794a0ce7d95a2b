//! AWS Glue Schema Registry wire framing: `[3, 0, <16-byte schema version id>, <Avro datum>]`.
//!
//! This is the format Lambda's Kafka event-source mappings and Powertools understand.

use uuid::Uuid;

/// First byte of every frame: the Glue Schema Registry header version.
pub const HEADER_VERSION: u8 = 3;
/// Second byte: no compression. The only compression this crate reads or writes.
pub const COMPRESSION_NONE: u8 = 0;
/// Second byte for zlib-compressed datums (Glue's only other option); not supported here.
pub const COMPRESSION_ZLIB: u8 = 5;
/// Header version byte + compression byte + schema version id.
pub const FRAME_HEADER_LEN: usize = 2 + 16;

/// Why bytes are not a frame this crate can read. None of these get better with a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is {len} bytes, shorter than the {FRAME_HEADER_LEN}-byte Glue Schema Registry header")]
    TooShort { len: usize },
    #[error("header version byte is {0}, expected {HEADER_VERSION} (Glue Schema Registry)")]
    UnsupportedHeaderVersion(u8),
    #[error("compression byte is {0}: only {COMPRESSION_NONE} (no compression) is supported")]
    UnsupportedCompression(u8),
}

/// Frames an Avro datum with the schema version it was written with.
pub fn frame(schema_version_id: Uuid, datum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + datum.len());
    out.push(HEADER_VERSION);
    out.push(COMPRESSION_NONE);
    out.extend_from_slice(schema_version_id.as_bytes());
    out.extend_from_slice(datum);
    out
}

/// Splits a frame into its schema version id and the Avro datum.
pub fn unframe(bytes: &[u8]) -> Result<(Uuid, &[u8]), FrameError> {
    let Some((header, datum)) = bytes.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(FrameError::TooShort { len: bytes.len() });
    };
    let [version, compression, id @ ..] = header;
    if *version != HEADER_VERSION {
        return Err(FrameError::UnsupportedHeaderVersion(*version));
    }
    if *compression != COMPRESSION_NONE {
        return Err(FrameError::UnsupportedCompression(*compression));
    }
    let id: [u8; 16] = *id;
    Ok((Uuid::from_bytes(id), datum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_has_the_glue_layout() {
        let id = Uuid::new_v4();
        let datum = [0x02, 0x48, 0x69, 0xff];
        let framed = frame(id, &datum);
        assert_eq!(framed.len(), FRAME_HEADER_LEN + datum.len());
        assert_eq!(framed[0], 3);
        assert_eq!(framed[1], 0);
        assert_eq!(&framed[2..18], id.as_bytes());
        let (got_id, got_datum) = unframe(&framed).expect("unframe");
        assert_eq!(got_id, id);
        assert_eq!(got_datum, datum);
    }

    #[test]
    fn an_empty_datum_still_frames() {
        let id = Uuid::new_v4();
        let framed = frame(id, &[]);
        assert_eq!(unframe(&framed), Ok((id, &[][..])));
    }

    #[test]
    fn too_short_input_is_rejected_with_its_length() {
        let framed = frame(Uuid::new_v4(), &[1, 2, 3]);
        for len in 0..FRAME_HEADER_LEN {
            assert_eq!(unframe(&framed[..len]), Err(FrameError::TooShort { len }));
        }
    }

    #[test]
    fn a_wrong_header_version_is_rejected() {
        let mut framed = frame(Uuid::new_v4(), &[1]);
        for version in [0u8, 1, 2, 4, 0xff] {
            framed[0] = version;
            assert_eq!(
                unframe(&framed),
                Err(FrameError::UnsupportedHeaderVersion(version))
            );
        }
        // A Confluent-framed record starts with magic byte 0.
        let confluent = [
            0u8, 0, 0, 0, 7, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
        ];
        assert_eq!(
            unframe(&confluent),
            Err(FrameError::UnsupportedHeaderVersion(0))
        );
    }

    #[test]
    fn compressed_frames_are_rejected_and_the_message_says_what_is_supported() {
        let mut framed = frame(Uuid::new_v4(), &[1]);
        framed[1] = COMPRESSION_ZLIB;
        let err = unframe(&framed).expect_err("zlib is not supported");
        assert_eq!(err, FrameError::UnsupportedCompression(5));
        assert!(err.to_string().contains("only 0 (no compression)"), "{err}");
    }
}
