//! Arbitrary bytes as AMF0: decoding never panics, and what decodes re-encodes to bytes that
//! decode to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcroom_relay::rtmp::amf0;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let again = amf0::decode_all(&amf0::encode_all(&values)).expect("re-encoded AMF0 decodes");
        assert_eq!(format!("{again:?}"), format!("{values:?}"));
    }
});
