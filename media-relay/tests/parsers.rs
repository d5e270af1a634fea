//! The fuzz targets' properties (media-relay/fuzz), run on stable with proptest: the chunk
//! reader and the AMF0 decoder never panic on arbitrary input fed in arbitrary pieces, and
//! what AMF0 decodes re-encodes faithfully.

use bytes::BytesMut;
use proptest::prelude::*;
use rtcroom_relay::rtmp::amf0::{self, Amf};
use rtcroom_relay::rtmp::chunk::{ChunkReader, Framing, MAX_MESSAGE_BYTES};

fn feed(reader: &mut ChunkReader, data: &[u8], piece: usize) -> Vec<usize> {
    let mut buf = BytesMut::new();
    let mut lengths = Vec::new();
    for part in data.chunks(piece.max(1)) {
        buf.extend_from_slice(part);
        loop {
            let before = buf.len();
            match reader.read(&mut buf) {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= MAX_MESSAGE_BYTES);
                    lengths.push(m.payload.len());
                }
                Ok(None) if buf.len() == before => break,
                Ok(None) => {}
                Err(_) => return lengths,
            }
        }
    }
    lengths
}

fn amf() -> impl Strategy<Value = Amf> {
    let leaf = prop_oneof![
        any::<f64>()
            .prop_filter("NaN never equals itself", |n| !n.is_nan())
            .prop_map(Amf::Number),
        any::<bool>().prop_map(Amf::Boolean),
        "\\PC{0,40}".prop_map(Amf::String),
        Just(Amf::Null),
        Just(Amf::Undefined),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(("[a-zA-Z]{1,8}", inner.clone()), 0..5).prop_map(Amf::Object),
            proptest::collection::vec(("[a-zA-Z]{1,8}", inner.clone()), 0..5)
                .prop_map(Amf::EcmaArray),
            proptest::collection::vec(inner, 0..5).prop_map(Amf::StrictArray),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_chunk_reader_never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk_size in 1u32..5000,
        piece in 1usize..300,
    ) {
        let mut reader = ChunkReader::default();
        reader.set_chunk_size(chunk_size);
        feed(&mut reader, &data, piece);
    }

    #[test]
    fn framed_messages_parse_back_whatever_the_pieces(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..6),
        chunk_size in 1usize..5000,
        piece in 1usize..700,
    ) {
        let framing = Framing { chunk_size };
        let mut bytes = BytesMut::new();
        for (i, p) in payloads.iter().enumerate() {
            framing.encode(&mut bytes, 3 + i as u32, i as u32 * 40, 9, 1, p);
        }
        let mut reader = ChunkReader::default();
        reader.set_chunk_size(chunk_size as u32);
        let lengths = feed(&mut reader, &bytes, piece);
        prop_assert_eq!(lengths, payloads.iter().map(Vec::len).collect::<Vec<_>>());
    }

    #[test]
    fn amf0_never_panics_and_round_trips(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        values in proptest::collection::vec(amf(), 0..4),
    ) {
        if let Ok(decoded) = amf0::decode_all(&data) {
            let again = amf0::decode_all(&amf0::encode_all(&decoded)).expect("re-encoded decodes");
            prop_assert_eq!(format!("{again:?}"), format!("{decoded:?}"));
        }
        prop_assert_eq!(amf0::decode_all(&amf0::encode_all(&values)).unwrap(), values);
    }
}
