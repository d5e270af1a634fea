//! MPEG-TS demuxer and muxer converting to and from FLV tags (H.264 + AAC).
//!
//! Hand-written rather than built on `mpeg2ts` 0.6 or `mpeg2ts-reader` 0.18:
//! `mpeg2ts` reads blocking from `io::Read` and fails on PIDs it was not told
//! about, which does not fit a push API fed with arbitrary SRT chunks, and
//! `mpeg2ts-reader` drags in `log`, `encoding_rs`, `fixedbitset` and a
//! registration crate, reports problems through log warnings instead of
//! errors, and needs a fair amount of generic filter/context plumbing. The
//! subset needed here (PAT, PMT, PES, Annex-B, ADTS) is small, so owning it
//! keeps the error model and the memory bounds under our control.
//!
//! Shared pieces live here: the [`Tag`] type, [`TsError`], CRC-32, 90 kHz
//! timestamp coding, Annex-B/AVCC helpers and the AAC configuration.

pub mod demux;
pub mod mux;

pub use demux::TsDemuxer;
pub use mux::TsMuxer;

use bytes::Bytes;

/// Size of one transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// Largest PES we reassemble; bigger ones are dropped with [`TsError::TooLarge`].
pub const MAX_PES_SIZE: usize = 4 * 1024 * 1024;
/// FLV tag type of audio tags.
pub const TAG_AUDIO: u8 = 8;
/// FLV tag type of video tags.
pub const TAG_VIDEO: u8 = 9;
/// PMT stream_type of H.264 video.
pub const STREAM_TYPE_H264: u8 = 0x1B;
/// PMT stream_type of AAC in ADTS framing.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;

/// The neutral media unit: one FLV tag (type 8 audio, 9 video).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// 8 = audio, 9 = video.
    pub type_id: u8,
    /// Decode timestamp in milliseconds.
    pub timestamp: u32,
    /// FLV tag body (starting with the audio/video tag header byte).
    pub payload: Bytes,
}

/// Errors reported by the demuxer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// The PMT announces an audio/video codec we cannot relay.
    #[error(
        "unsupported codec in MPEG-TS: stream_type 0x{stream_type:02X} ({name}); \
         only H.264 (0x1B) video and AAC/ADTS (0x0F) audio are supported"
    )]
    UnsupportedCodec {
        /// The PMT stream_type value.
        stream_type: u8,
        /// Human readable codec name.
        name: &'static str,
    },
    /// A PES packet grew beyond [`MAX_PES_SIZE`]; it was discarded.
    #[error("PES on PID 0x{pid:04X} is larger than {limit} bytes; dropped")]
    TooLarge {
        /// PID carrying the oversized PES.
        pid: u16,
        /// The configured limit.
        limit: usize,
    },
}

/// What the demuxer should do with a PMT elementary stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    H264,
    Aac,
    /// An audio/video codec we refuse, with its display name.
    Unsupported(&'static str),
    /// Data, subtitles, SCTE-35, private streams: silently ignored.
    Ignored,
}

/// Classifies a PMT stream_type. Only codecs that are unambiguously
/// audio/video are refused; ambiguous private values are ignored.
pub(crate) fn classify_stream_type(stream_type: u8) -> StreamKind {
    let name = match stream_type {
        STREAM_TYPE_H264 => return StreamKind::H264,
        STREAM_TYPE_AAC_ADTS => return StreamKind::Aac,
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x03 => "MPEG-1 audio",
        0x04 => "MPEG-2 audio",
        0x10 => "MPEG-4 visual",
        0x11 => "AAC LATM",
        0x1C => "MPEG-4 audio (raw)",
        0x1F => "H.264 SVC",
        0x20 => "H.264 MVC",
        0x21 => "JPEG 2000",
        0x24 => "HEVC",
        0x33 => "VVC",
        0x42 => "AVS",
        0x81 => "AC-3",
        0x87 => "E-AC-3",
        0xD1 => "Dirac",
        0xD2 => "AVS2",
        0xEA => "VC-1",
        _ => return StreamKind::Ignored,
    };
    StreamKind::Unsupported(name)
}

/// CRC-32/MPEG-2 as used by PSI sections (poly 0x04C11DB7, no reflection).
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Decodes a 33-bit PTS/DTS from its 5-byte PES encoding.
pub(crate) fn read_timestamp(b: &[u8]) -> Option<u64> {
    let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
    Some(
        (u64::from(b[0] >> 1) & 0x07) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1),
    )
}

/// Encodes a 33-bit PTS/DTS with the 4-bit `prefix` (2 = PTS only, 3 = PTS
/// followed by DTS, 1 = DTS) and the marker bits.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts & 0x1_FFFF_FFFF;
    out.extend_from_slice(&[
        prefix << 4 | ((ts >> 29) as u8 & 0x0E) | 1,
        (ts >> 22) as u8,
        ((ts >> 14) as u8 & 0xFE) | 1,
        (ts >> 7) as u8,
        ((ts << 1) as u8 & 0xFE) | 1,
    ]);
}

/// Iterates over the NAL units of an Annex-B byte stream (3- or 4-byte start
/// codes). Bytes before the first start code and trailing zeros are dropped.
pub(crate) fn annexb_nals(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start_code(data, 0).map(|p| p + 3);
    std::iter::from_fn(move || {
        loop {
            let start = pos?;
            let next = find_start_code(data, start);
            let end = next.unwrap_or(data.len());
            pos = next.map(|p| p + 3);
            let mut nal = &data[start..end];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// Position of the next `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| p + from)
}

/// Builds an AVCDecoderConfigurationRecord from one SPS and one PPS.
/// Returns `None` when they cannot be represented (SPS too short, > 64 KiB).
pub(crate) fn build_avc_config(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    let sps_len = u16::try_from(sps.len()).ok()?;
    let pps_len = u16::try_from(pps.len()).ok()?;
    if sps.len() < 4 || pps.is_empty() {
        return None;
    }
    let mut rec = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
    rec.extend_from_slice(&sps_len.to_be_bytes());
    rec.extend_from_slice(sps);
    rec.push(1);
    rec.extend_from_slice(&pps_len.to_be_bytes());
    rec.extend_from_slice(pps);
    Some(rec)
}

/// Parameter sets taken from an AVCDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Size of the NAL length prefix in the AVCC frames (1, 2 or 4).
    pub length_size: usize,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
}

/// Parses an AVCDecoderConfigurationRecord; `None` if truncated or empty.
pub(crate) fn parse_avc_config(rec: &[u8]) -> Option<AvcConfig> {
    let length_size = usize::from(rec.get(4)? & 3) + 1;
    if rec[0] != 1 || length_size == 3 {
        return None;
    }
    let mut pos = 5;
    let mut read_sets = |count_mask: u8| -> Option<Vec<Vec<u8>>> {
        let count = rec.get(pos)? & count_mask;
        pos += 1;
        let mut sets = Vec::new();
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*rec.get(pos)?, *rec.get(pos + 1)?]));
            sets.push(rec.get(pos + 2..pos + 2 + len)?.to_vec());
            pos += 2 + len;
        }
        Some(sets)
    };
    let sps = read_sets(0x1F)?;
    let pps = read_sets(0xFF)?;
    if sps.is_empty() || pps.is_empty() {
        return None;
    }
    Some(AvcConfig {
        length_size,
        sps,
        pps,
    })
}

/// Sampling frequencies indexed by the MPEG-4 sampling_frequency_index.
pub(crate) const AAC_SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The AAC parameters both ADTS and AudioSpecificConfig carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AacConfig {
    /// MPEG-4 audio object type (2 = AAC LC); ADTS can carry 1..=4.
    pub object_type: u8,
    /// Index into [`AAC_SAMPLE_RATES`].
    pub freq_index: u8,
    pub channels: u8,
}

impl AacConfig {
    /// The 2-byte AudioSpecificConfig FLV sends as the sequence header.
    pub fn to_asc(self) -> [u8; 2] {
        [
            self.object_type << 3 | self.freq_index >> 1,
            (self.freq_index & 1) << 7 | (self.channels & 0x0F) << 3,
        ]
    }

    /// Parses an AudioSpecificConfig. Explicit SBR/PS signalling (object
    /// types 5 and 29) is reduced to its AAC core, which is what ADTS
    /// carries (the decoder then finds SBR implicitly).
    pub fn from_asc(asc: &[u8]) -> Option<Self> {
        let bits = u32::from_be_bytes([*asc.first()?, *asc.get(1)?, 0, 0]) as u64
            | u64::from(asc.get(2).copied().unwrap_or(0)) << 8
            | u64::from(asc.get(3).copied().unwrap_or(0));
        let take = |offset: u32, n: u32| ((bits >> (32 - offset - n)) & ((1 << n) - 1)) as u8;
        let mut object_type = take(0, 5);
        let freq_index = take(5, 4);
        let channels = take(9, 4);
        if object_type == 5 || object_type == 29 {
            // 4 bits extension sampling index (15 = explicit, unsupported).
            if take(13, 4) == 15 {
                return None;
            }
            object_type = take(17, 5);
        }
        let cfg = AacConfig {
            object_type,
            freq_index,
            channels,
        };
        cfg.is_adts_compatible().then_some(cfg)
    }

    /// ADTS has 2 bits for the profile, 3 for the channel configuration
    /// and needs a tabled sample rate.
    pub fn is_adts_compatible(self) -> bool {
        (1..=4).contains(&self.object_type)
            && usize::from(self.freq_index) < AAC_SAMPLE_RATES.len()
            && self.channels <= 7
    }

    pub fn sample_rate(self) -> u32 {
        AAC_SAMPLE_RATES[usize::from(self.freq_index).min(AAC_SAMPLE_RATES.len() - 1)]
    }
}

/// Parsed PES header fields we care about.
pub(crate) struct Pes<'a> {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub payload: &'a [u8],
}

/// True once a PES with a declared length has all its bytes.
pub(crate) fn pes_complete(pes: &[u8]) -> bool {
    let declared = pes
        .get(4..6)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    declared != 0 && pes.len() >= 6 + declared
}

/// Parses a PES header; `None` for anything that isn't a sane A/V PES.
pub(crate) fn parse_pes(data: &[u8]) -> Option<Pes<'_>> {
    if data.get(..3)? != [0, 0, 1] || data.len() < 9 {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([data[4], data[5]]));
    let end = if declared == 0 {
        data.len()
    } else {
        data.len().min(6 + declared)
    };
    let flags = data[7] >> 6;
    let header_end = 9 + usize::from(data[8]);
    let pts = if flags & 2 != 0 {
        read_timestamp(data.get(9..14)?)
    } else {
        None
    };
    let dts = if flags == 3 {
        read_timestamp(data.get(14..19)?)
    } else {
        None
    };
    let payload = data.get(header_end..end)?;
    Some(Pes { pts, dts, payload })
}

/// PTS/DTS/PCR base values are 33-bit counters.
const TS_MODULO: u64 = 1 << 33;
/// Timestamp jumps larger than this (10 s at 90 kHz) are treated as a
/// discontinuity: the clock continues from where it was instead of jumping.
const MAX_TS_JUMP: i64 = 10 * 90_000;

/// `a - b` for 33-bit timestamps, taking the shorter way round the wrap.
pub(crate) fn signed_ts_diff(a: u64, b: u64) -> i64 {
    let diff = (a.wrapping_sub(b) % TS_MODULO) as i64;
    if diff >= (TS_MODULO / 2) as i64 {
        diff - TS_MODULO as i64
    } else {
        diff
    }
}

/// Unwraps 33-bit 90 kHz timestamps into a shared, continuous timeline.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// (last raw value, its unwrapped value, the first unwrapped value).
    state: Option<(u64, i64, i64)>,
}

impl Clock {
    /// Milliseconds since the first timestamp seen (may be negative for a
    /// stream that starts slightly before the first one seen).
    pub(crate) fn ms_since_start(&mut self, raw: u64) -> i64 {
        let raw = raw % TS_MODULO;
        let (last_raw, last, base) = self.state.unwrap_or((raw, raw as i64, raw as i64));
        let mut diff = signed_ts_diff(raw, last_raw);
        if diff.abs() > MAX_TS_JUMP {
            diff = 0;
        }
        let now = last.saturating_add(diff);
        self.state = Some((raw, now, base));
        (now - base).div_euclid(90)
    }
}

/// One ADTS frame found by [`next_adts_frame`].
pub(crate) struct AdtsFrame<'a> {
    pub config: AacConfig,
    /// The raw AAC frame; `None` for frames we cannot pass on as one FLV
    /// tag (several raw data blocks in one ADTS frame).
    pub raw: Option<&'a [u8]>,
    /// Data after this frame.
    pub rest: &'a [u8],
}

/// Finds the next ADTS frame, skipping garbage before it (a loop, not recursion: a PES of
/// false sync words must not grow the stack).
pub(crate) fn next_adts_frame(mut data: &[u8]) -> Option<AdtsFrame<'_>> {
    let (start, h, header_len, frame_len, config) = loop {
        let start = data
            .windows(2)
            .position(|w| w[0] == 0xFF && w[1] & 0xF6 == 0xF0)?;
        let h = data.get(start..start + 7)?;
        let header_len = if h[1] & 1 == 0 { 9 } else { 7 };
        let frame_len =
            usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
        let config = AacConfig {
            object_type: (h[2] >> 6) + 1,
            freq_index: (h[2] >> 2) & 0x0F,
            channels: (h[2] & 1) << 2 | h[3] >> 6,
        };
        if frame_len >= header_len && config.is_adts_compatible() {
            break (start, h, header_len, frame_len, config);
        }
        // Not a real header: keep scanning after this sync word.
        data = data.get(start + 2..)?;
    };
    let frame = data.get(start..start + frame_len)?;
    let rest = &data[start + frame_len..];
    let single_block = h[6] & 3 == 0;
    let raw = single_block.then(|| &frame[header_len..]);
    Some(AdtsFrame { config, raw, rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_adts_sync_words_are_skipped_without_growing_the_stack() {
        // Every 2 bytes a sync word whose header is invalid (frequency index 15): 4 MiB of it
        // is two million candidates; recursion would overflow the session thread's stack.
        let data: Vec<u8> = [0xFF, 0xF0, 0x3C, 0x00].repeat(1 << 20);
        assert!(next_adts_frame(&data).is_none());
    }

    #[test]
    fn clock_unwraps_33_bit_wrap_and_ignores_big_jumps() {
        let mut clock = Clock::default();
        assert_eq!(clock.ms_since_start(TS_MODULO - 90_000), 0);
        assert_eq!(clock.ms_since_start(90_000), 2000);
        assert_eq!(clock.ms_since_start(90_000 + 10 * 3600 * 90_000), 2000);
        assert_eq!(
            clock.ms_since_start(90_000 + 10 * 3600 * 90_000 + 900),
            2010
        );
        assert_eq!(
            clock.ms_since_start(90_000 + 10 * 3600 * 90_000 - 900),
            1990
        );
    }

    #[test]
    fn adts_frames_are_split_and_garbage_skipped() {
        let cfg = AacConfig {
            object_type: 2,
            freq_index: 4,
            channels: 2,
        };
        let mut data = vec![0x12, 0x34];
        for len in [3usize, 5] {
            let total = 7 + len;
            data.extend_from_slice(&[0xFF, 0xF1, 0x50, 0x80 | (total >> 11) as u8]);
            data.extend_from_slice(&[(total >> 3) as u8, ((total & 7) << 5) as u8 | 0x1F, 0xFC]);
            data.extend(std::iter::repeat_n(0xAA, len));
        }
        let first = next_adts_frame(&data).unwrap();
        assert_eq!((first.config, first.raw.map(<[u8]>::len)), (cfg, Some(3)));
        let second = next_adts_frame(first.rest).unwrap();
        assert_eq!(second.raw.map(<[u8]>::len), Some(5));
        assert!(next_adts_frame(second.rest).is_none());
    }

    #[test]
    fn crc_matches_known_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn timestamp_round_trip_including_33rd_bit() {
        for ts in [0u64, 1, 90_000, 0x1_FFFF_FFFF, 0x1_0000_0001] {
            let mut buf = Vec::new();
            write_timestamp(&mut buf, 2, ts);
            assert_eq!(read_timestamp(&buf), Some(ts));
            assert_eq!(buf[0] >> 4, 2);
        }
    }

    #[test]
    fn annexb_split_handles_3_and_4_byte_codes() {
        let data = [
            9, 9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let nals: Vec<&[u8]> = annexb_nals(&data).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
        assert_eq!(annexb_nals(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn avc_config_round_trip() {
        let sps = [0x67, 0x64, 0x00, 0x1F, 0xAC];
        let pps = [0x68, 0xEE, 0x3C];
        let rec = build_avc_config(&sps, &pps).unwrap();
        assert_eq!(&rec[..6], &[1, 0x64, 0x00, 0x1F, 0xFF, 0xE1]);
        let cfg = parse_avc_config(&rec).unwrap();
        assert_eq!(
            (cfg.length_size, cfg.sps, cfg.pps),
            (4, vec![sps.to_vec()], vec![pps.to_vec()])
        );
        assert!(parse_avc_config(&rec[..rec.len() - 1]).is_none());
    }

    #[test]
    fn asc_round_trip_and_he_aac_core() {
        let lc = AacConfig {
            object_type: 2,
            freq_index: 4,
            channels: 2,
        };
        assert_eq!(lc.to_asc(), [0x12, 0x10]);
        assert_eq!(AacConfig::from_asc(&lc.to_asc()), Some(lc));
        // HE-AAC: object type 5, 24 kHz core, stereo, ext index 3 (48k), core LC.
        let he = [0x2B, 0x11, 0x88, 0x00];
        let core = AacConfig::from_asc(&he).unwrap();
        assert_eq!(
            (core.object_type, core.freq_index, core.channels),
            (2, 6, 2)
        );
        assert_eq!(AacConfig::from_asc(&[0x12]), None);
    }

    #[test]
    fn classification() {
        assert_eq!(classify_stream_type(0x1B), StreamKind::H264);
        assert_eq!(classify_stream_type(0x24), StreamKind::Unsupported("HEVC"));
        assert_eq!(classify_stream_type(0x06), StreamKind::Ignored);
        assert_eq!(classify_stream_type(0x86), StreamKind::Ignored);
    }
}
