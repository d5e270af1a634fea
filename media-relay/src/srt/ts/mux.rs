//! FLV tags → MPEG-TS (H.264 + AAC/ADTS), one program.
//!
//! Sequence-header tags only update the configuration; media tags are
//! written as complete 188-byte packets. Malformed tags are skipped.

use super::{
    AacConfig, PACKET_SIZE, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, TAG_AUDIO, TAG_VIDEO, Tag,
    crc32_mpeg2, parse_avc_config, write_timestamp,
};

/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// Added to every DTS/PTS (700 ms at 90 kHz) so that PTS = DTS + negative
/// composition offsets stays positive and PCR (= tag time) runs ahead of DTS.
const TS_OFFSET: u64 = 63_000;
/// How often PAT/PMT are repeated when there is no video keyframe to hang
/// them on (audio-only streams).
const PSI_INTERVAL_MS: u32 = 500;
/// Access unit delimiter (primary_pic_type 7: any slice type).
const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Multiplexes FLV tags into a single-program transport stream.
#[derive(Debug)]
pub struct TsMuxer {
    /// SPS + PPS as Annex-B, ready to insert before IDR frames.
    video_config: Option<Vec<u8>>,
    /// NAL length prefix size from the AVC record.
    length_size: usize,
    audio_config: Option<AacConfig>,
    /// Continuity counters for PAT, PMT, video, audio.
    cc: [u8; 4],
    pmt_version: u8,
    /// PMT content changed since PSI was last written.
    psi_dirty: bool,
    last_psi_ms: Option<u32>,
    /// Inter frames are dropped until a keyframe has been written, so the
    /// stream never starts with undecodable pictures.
    seen_keyframe: bool,
}

impl Default for TsMuxer {
    fn default() -> Self {
        Self::new()
    }
}

/// Adaptation field content of the first packet of a PES.
#[derive(Clone, Copy)]
struct FirstPacketInfo {
    random_access: bool,
    pcr: Option<u64>,
}

impl TsMuxer {
    pub fn new() -> Self {
        Self {
            video_config: None,
            length_size: 4,
            audio_config: None,
            cc: [0; 4],
            pmt_version: 0,
            psi_dirty: false,
            last_psi_ms: None,
            seen_keyframe: false,
        }
    }

    /// Muxes one tag, appending whole TS packets to `out`.
    pub fn mux(&mut self, tag: &Tag, out: &mut Vec<u8>) {
        match tag.type_id {
            TAG_VIDEO => self.mux_video(tag, out),
            TAG_AUDIO => self.mux_audio(tag, out),
            _ => {}
        }
    }

    fn mux_video(&mut self, tag: &Tag, out: &mut Vec<u8>) {
        let p = &tag.payload[..];
        // Codec 7 = AVC; frame type 5 is a video info/command frame.
        if p.len() < 5 || p[0] & 0x0F != 7 || p[0] >> 4 == 5 {
            return;
        }
        match p[1] {
            0 => self.set_video_config(&p[5..]),
            1 => {
                let cts = i32::from_be_bytes([p[2], p[3], p[4], 0]) >> 8;
                self.write_video_frame(tag.timestamp, cts, p[0] >> 4 == 1, &p[5..], out);
            }
            _ => {}
        }
    }

    fn set_video_config(&mut self, record: &[u8]) {
        let Some(cfg) = parse_avc_config(record) else {
            return;
        };
        let mut annexb = Vec::new();
        for nal in cfg.sps.iter().chain(&cfg.pps) {
            annexb.extend_from_slice(&START_CODE);
            annexb.extend_from_slice(nal);
        }
        self.psi_dirty |= self.video_config.is_none();
        self.video_config = Some(annexb);
        self.length_size = cfg.length_size;
    }

    fn write_video_frame(
        &mut self,
        ms: u32,
        cts: i32,
        key_flag: bool,
        avcc: &[u8],
        out: &mut Vec<u8>,
    ) {
        let Some(nals) = split_avcc(avcc, self.length_size) else {
            return;
        };
        let Some(config) = &self.video_config else {
            return;
        };
        let has_idr = nals.iter().any(|n| n[0] & 0x1F == 5);
        let has_sps = nals.iter().any(|n| n[0] & 0x1F == 7);
        let keyframe = key_flag || has_idr;
        self.seen_keyframe |= keyframe;
        if !self.seen_keyframe {
            return;
        }

        let mut es = Vec::with_capacity(avcc.len() + config.len() + 64);
        es.extend_from_slice(&AUD);
        if keyframe && !has_sps {
            es.extend_from_slice(config);
        }
        for nal in nals.iter().filter(|n| n[0] & 0x1F != 9) {
            es.extend_from_slice(&START_CODE);
            es.extend_from_slice(nal);
        }

        let dts = u64::from(ms) * 90 + TS_OFFSET;
        let pts = dts.saturating_add_signed(i64::from(cts) * 90);
        let mut pes = pes_header(0xE0, pts, Some(dts), 0);
        pes.extend_from_slice(&es);

        if keyframe || self.psi_dirty {
            self.write_psi(ms, out);
        }
        let info = FirstPacketInfo {
            random_access: keyframe,
            pcr: Some(u64::from(ms) * 90),
        };
        self.write_pes(VIDEO_PID, &pes, info, out);
    }

    fn mux_audio(&mut self, tag: &Tag, out: &mut Vec<u8>) {
        let p = &tag.payload[..];
        if p.len() < 2 || p[0] >> 4 != 10 {
            return;
        }
        match p[1] {
            0 => {
                if let Some(cfg) = AacConfig::from_asc(&p[2..]) {
                    self.psi_dirty |= self.audio_config.is_none();
                    self.audio_config = Some(cfg);
                }
            }
            1 => self.write_audio_frame(tag.timestamp, &p[2..], out),
            _ => {}
        }
    }

    fn write_audio_frame(&mut self, ms: u32, raw: &[u8], out: &mut Vec<u8>) {
        let Some(cfg) = self.audio_config else { return };
        let Some(adts) = adts_header(cfg, raw.len()) else {
            return;
        };
        let pts = u64::from(ms) * 90 + TS_OFFSET;
        let es_len = adts.len() + raw.len();
        let mut pes = pes_header(0xC0, pts, None, es_len);
        pes.extend_from_slice(&adts);
        pes.extend_from_slice(raw);

        let audio_only = self.video_config.is_none();
        let psi_due = self
            .last_psi_ms
            .is_none_or(|t| ms.wrapping_sub(t) >= PSI_INTERVAL_MS);
        if self.psi_dirty || (audio_only && psi_due) {
            self.write_psi(ms, out);
        }
        let pcr = audio_only.then_some(u64::from(ms) * 90);
        let info = FirstPacketInfo {
            random_access: audio_only,
            pcr,
        };
        self.write_pes(AUDIO_PID, &pes, info, out);
    }

    /// Writes PAT and PMT (listing the tracks with a known config).
    fn write_psi(&mut self, ms: u32, out: &mut Vec<u8>) {
        if self.psi_dirty {
            self.pmt_version = (self.pmt_version + 1) & 0x1F;
            self.psi_dirty = false;
        }
        self.last_psi_ms = Some(ms);
        // PAT: transport_stream_id 1, program 1 → PMT_PID.
        let pat = [
            0x00,
            0x01,
            0xC1,
            0x00,
            0x00,
            0x00,
            0x01,
            0xE0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ];
        self.write_section(0, 0x00, &pat, out);

        let has_video = self.video_config.is_some();
        let pcr_pid = if has_video { VIDEO_PID } else { AUDIO_PID };
        let mut pmt = vec![0x00, 0x01, 0xC1 | self.pmt_version << 1, 0x00, 0x00];
        pmt.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
        pmt.extend_from_slice(&[0xF0, 0x00]);
        let tracks = [
            (has_video, STREAM_TYPE_H264, VIDEO_PID),
            (self.audio_config.is_some(), STREAM_TYPE_AAC_ADTS, AUDIO_PID),
        ];
        for (_, stream_type, pid) in tracks.iter().filter(|t| t.0) {
            pmt.push(*stream_type);
            pmt.extend_from_slice(&(0xE000 | pid).to_be_bytes());
            pmt.extend_from_slice(&[0xF0, 0x00]);
        }
        self.write_section(1, 0x02, &pmt, out);
    }

    /// Writes one PSI section (pointer field, header, body, CRC) in a single
    /// packet, stuffed with 0xFF as PSI requires. `body` starts after the
    /// section_length field and is always small here.
    fn write_section(&mut self, slot: usize, table_id: u8, body: &[u8], out: &mut Vec<u8>) {
        let pid = if slot == 0 { 0 } else { PMT_PID };
        let section_len = body.len() + 4;
        let mut section = vec![table_id, 0xB0 | (section_len >> 8) as u8, section_len as u8];
        section.extend_from_slice(body);
        let crc = crc32_mpeg2(&section);
        section.extend_from_slice(&crc.to_be_bytes());

        let cc = self.next_cc(slot);
        let start = out.len();
        out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0x00]);
        out.extend_from_slice(&section);
        out.resize(start + PACKET_SIZE, 0xFF);
    }

    /// Splits a PES into packets; the first carries the adaptation field
    /// (random access + PCR), the last is padded with adaptation stuffing.
    fn write_pes(&mut self, pid: u16, pes: &[u8], info: FirstPacketInfo, out: &mut Vec<u8>) {
        let slot = if pid == VIDEO_PID { 2 } else { 3 };
        let mut rest = pes;
        let mut first = true;
        while first || !rest.is_empty() {
            let mut af = Vec::new();
            if first && (info.random_access || info.pcr.is_some()) {
                let flags = u8::from(info.random_access) << 6 | u8::from(info.pcr.is_some()) << 4;
                af.push(flags);
                if let Some(pcr) = info.pcr {
                    write_pcr(&mut af, pcr);
                }
            }
            let cc = self.next_cc(slot);
            let used = write_packet(out, pid, first, cc, &af, rest);
            rest = &rest[used..];
            first = false;
        }
    }

    fn next_cc(&mut self, slot: usize) -> u8 {
        let cc = self.cc[slot];
        self.cc[slot] = (cc + 1) & 0x0F;
        cc
    }
}

/// Writes one packet with payload from `payload` and returns how much of it
/// was used. `af` is the adaptation field content after the length byte
/// (flags + fields), empty when none is needed; stuffing is added to the
/// adaptation field so that the packet is exactly 188 bytes.
fn write_packet(
    out: &mut Vec<u8>,
    pid: u16,
    pusi: bool,
    cc: u8,
    af: &[u8],
    payload: &[u8],
) -> usize {
    let af_min = if af.is_empty() { 0 } else { 1 + af.len() };
    let take = payload.len().min(PACKET_SIZE - 4 - af_min);
    let af_total = PACKET_SIZE - 4 - take; // including the length byte
    let afc = if af_total > 0 { 0x30 } else { 0x10 };
    out.extend_from_slice(&[
        0x47,
        u8::from(pusi) << 6 | (pid >> 8) as u8,
        pid as u8,
        afc | cc,
    ]);
    if af_total > 0 {
        out.push((af_total - 1) as u8);
        if af.is_empty() && af_total > 1 {
            out.push(0x00); // flags, no fields
        }
        out.extend_from_slice(af);
        let written = 1 + af.len().max(usize::from(af_total > 1));
        out.resize(out.len() + af_total - written, 0xFF);
    }
    out.extend_from_slice(&payload[..take]);
    take
}

/// PCR base (33 bits) + reserved + zero extension.
fn write_pcr(out: &mut Vec<u8>, base: u64) {
    let base = base & 0x1_FFFF_FFFF;
    out.extend_from_slice(&[
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7E,
        0x00,
    ]);
}

/// PES header with PTS (and DTS). `es_len` 0 means unbounded (video).
fn pes_header(stream_id: u8, pts: u64, dts: Option<u64>, es_len: usize) -> Vec<u8> {
    let header_data_len = if dts.is_some() { 10 } else { 5 };
    let pes_len = if es_len == 0 {
        0
    } else {
        (3 + header_data_len + es_len).min(0xFFFF)
    };
    let mut h = vec![
        0,
        0,
        1,
        stream_id,
        (pes_len >> 8) as u8,
        pes_len as u8,
        0x84,
    ];
    h.push(if dts.is_some() { 0xC0 } else { 0x80 });
    h.push(header_data_len as u8);
    match dts {
        Some(dts) => {
            write_timestamp(&mut h, 3, pts);
            write_timestamp(&mut h, 1, dts);
        }
        None => write_timestamp(&mut h, 2, pts),
    }
    h
}

/// 7-byte ADTS header (no CRC) for a raw frame of `raw_len` bytes.
fn adts_header(cfg: AacConfig, raw_len: usize) -> Option<[u8; 7]> {
    let len = raw_len + 7;
    if raw_len == 0 || len > 0x1FFF || !cfg.is_adts_compatible() {
        return None;
    }
    Some([
        0xFF,
        0xF1,
        (cfg.object_type - 1) << 6 | cfg.freq_index << 2 | (cfg.channels >> 2) & 1,
        (cfg.channels & 3) << 6 | (len >> 11) as u8,
        (len >> 3) as u8,
        ((len & 7) as u8) << 5 | 0x1F,
        0xFC,
    ])
}

/// Splits length-prefixed NAL units; `None` if any length overruns.
fn split_avcc(mut data: &[u8], length_size: usize) -> Option<Vec<&[u8]>> {
    if !(1..=4).contains(&length_size) {
        return None;
    }
    let mut nals = Vec::new();
    while !data.is_empty() {
        let len_bytes = data.get(..length_size)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        let nal = data.get(length_size..length_size.checked_add(len)?)?;
        if !nal.is_empty() {
            nals.push(nal);
        }
        data = &data[length_size + len..];
    }
    (!nals.is_empty()).then_some(nals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srt::ts::build_avc_config;

    fn packets(out: &[u8]) -> Vec<&[u8]> {
        assert_eq!(out.len() % PACKET_SIZE, 0);
        out.chunks(PACKET_SIZE)
            .inspect(|p| assert_eq!(p[0], 0x47))
            .collect()
    }

    #[test]
    fn stuffing_goes_into_adaptation_field() {
        for len in [0usize, 1, 2, 100, 182, 183, 184, 185] {
            let mut out = Vec::new();
            let used = write_packet(&mut out, VIDEO_PID, true, 3, &[], &vec![0xAB; len]);
            assert_eq!((out.len(), used), (PACKET_SIZE, len.min(184)));
            assert!(out.ends_with(&vec![0xAB; used]));
        }
        let mut out = Vec::new();
        write_packet(
            &mut out,
            AUDIO_PID,
            true,
            0,
            &[0x50, 1, 2, 3, 4, 5, 6],
            &[1, 2],
        );
        assert_eq!((out[3] & 0x30, out[4] as usize), (0x30, 188 - 4 - 2 - 1));
    }

    #[test]
    fn config_then_keyframe_writes_psi_and_counts_continuity() {
        let mut mux = TsMuxer::new();
        let mut out = Vec::new();
        let record = build_avc_config(&[0x67, 0x42, 0, 0x1E], &[0x68, 0xCE]).unwrap();
        let mut seq = vec![0x17, 0, 0, 0, 0];
        seq.extend_from_slice(&record);
        mux.mux(
            &Tag {
                type_id: 9,
                timestamp: 0,
                payload: seq.into(),
            },
            &mut out,
        );
        assert!(out.is_empty());
        let mut frame = vec![0x17, 1, 0, 0, 0, 0, 0, 1, 44, 0x65];
        frame.extend(std::iter::repeat_n(7, 299));
        for ts in [0, 40] {
            mux.mux(
                &Tag {
                    type_id: 9,
                    timestamp: ts,
                    payload: frame.clone().into(),
                },
                &mut out,
            );
        }
        let pk = packets(&out);
        let pids: Vec<u16> = pk
            .iter()
            .map(|p| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]))
            .collect();
        assert_eq!(
            pids,
            [
                0, PMT_PID, VIDEO_PID, VIDEO_PID, 0, PMT_PID, VIDEO_PID, VIDEO_PID
            ]
        );
        let video_cc: Vec<u8> = pk
            .iter()
            .zip(&pids)
            .filter(|(_, pid)| **pid == VIDEO_PID)
            .map(|(p, _)| p[3] & 0xF)
            .collect();
        assert_eq!(video_cc, [0, 1, 2, 3]);
        assert_eq!(pk[2][5] & 0x50, 0x50); // random access + PCR
    }

    #[test]
    fn malformed_tags_are_skipped() {
        let mut mux = TsMuxer::new();
        let mut out = Vec::new();
        for payload in [
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 1][..],
            &[0x17],
            &[0xAF, 1, 1, 2],
            &[0xAF, 0],
        ] {
            mux.mux(
                &Tag {
                    type_id: 9,
                    timestamp: 0,
                    payload: payload.to_vec().into(),
                },
                &mut out,
            );
            mux.mux(
                &Tag {
                    type_id: 8,
                    timestamp: 0,
                    payload: payload.to_vec().into(),
                },
                &mut out,
            );
        }
        assert!(out.is_empty());
        assert!(split_avcc(&[0, 0, 0, 9, 1], 4).is_none());
    }

    #[test]
    fn adts_header_encodes_length() {
        let cfg = AacConfig {
            object_type: 2,
            freq_index: 3,
            channels: 2,
        };
        let h = adts_header(cfg, 100).unwrap();
        let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
        assert_eq!((len, h[2] >> 6, (h[2] >> 2) & 0xF), (107, 1, 3));
    }
}
