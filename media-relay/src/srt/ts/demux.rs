//! MPEG-TS → FLV tags. Push arbitrary chunks, get [`Tag`]s out.
//!
//! Memory is bounded: less than two TS packets are kept between calls,
//! PSI sections are capped at 1 KiB and each PES at [`MAX_PES_SIZE`].
//!
//! Known limits: a video PES (unbounded length) is only emitted when the
//! next one starts on its PID (one frame of latency; audio PES carry a
//! length and are emitted at once); one access unit per PES is assumed;
//! only the first program of the PAT is used; timestamp jumps over 10 s
//! are treated as discontinuities and smoothed over.

use super::{
    AacConfig, AdtsFrame, Clock, MAX_PES_SIZE, PACKET_SIZE, Pes, StreamKind, TAG_AUDIO, TAG_VIDEO,
    Tag, TsError, annexb_nals, build_avc_config, classify_stream_type, crc32_mpeg2,
    next_adts_frame, parse_pes, pes_complete, signed_ts_diff,
};
use bytes::{BufMut, BytesMut};

/// Max PSI section size (section_length is limited to 1021 for PAT/PMT).
const MAX_SECTION_SIZE: usize = 1024;

/// Demultiplexes an MPEG-TS program carrying H.264 and AAC (ADTS) into FLV tags.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    /// Unconsumed bytes (less than two packets after each `push`).
    pending: Vec<u8>,
    /// The last accepted packet was confirmed by a following sync byte, so
    /// the next one may be taken without waiting for its successor.
    in_sync: bool,
    /// `pending` starts with a packet already handled on the strength of
    /// `in_sync` alone; the next byte tells whether it really was one.
    unconfirmed: bool,
    pat: Section,
    pmt: Section,
    pmt_pid: Option<u16>,
    video: Option<Track>,
    audio: Option<Track>,
    /// Set once a PMT listed an unsupported codec; every later push fails.
    refused: Option<TsError>,
    clock: Clock,
    /// SPS/PPS currently announced downstream.
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    aac: Option<AacConfig>,
}

/// One elementary stream being reassembled.
#[derive(Debug)]
struct Track {
    pid: u16,
    pes: Vec<u8>,
    /// True while `pes` holds a PES that began with payload_unit_start.
    in_pes: bool,
    last_cc: Option<u8>,
    /// Last emitted timestamp (ms), to keep output strictly increasing.
    last_ms: Option<u32>,
}

impl Track {
    fn new(pid: u16) -> Self {
        Track {
            pid,
            pes: Vec::new(),
            in_pes: false,
            last_cc: None,
            last_ms: None,
        }
    }
}

/// Reassembles one PSI section per PID.
#[derive(Debug, Default)]
struct Section {
    buf: Vec<u8>,
    active: bool,
}

/// Outcome of the sync check at one position.
enum Sync {
    Confirmed,
    Unconfirmed,
    No,
    NeedMore,
}

impl TsDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes currently buffered (partial packet, sections, PES); for metrics
    /// and to check the memory bound.
    pub fn buffered_bytes(&self) -> usize {
        let tracks = [&self.video, &self.audio];
        self.pending.len()
            + self.pat.buf.len()
            + self.pmt.buf.len()
            + tracks
                .iter()
                .filter_map(|t| t.as_ref())
                .map(|t| t.pes.len())
                .sum::<usize>()
    }

    /// Feeds a chunk of transport stream. Tags completed by it are appended
    /// to `out`. The whole chunk is always consumed; the first error met is
    /// returned (tags before and after it are still delivered), except for
    /// [`TsError::UnsupportedCodec`], which is final: nothing more is output.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Tag>) -> Result<(), TsError> {
        if let Some(err) = &self.refused {
            return Err(err.clone());
        }
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        if self.unconfirmed {
            // A stray 0x47 was taken for a packet: rescan from the byte
            // after it, so the real packet it overlapped is not lost.
            match self.pending.get(PACKET_SIZE) {
                None => return Ok(()),
                Some(&0x47) => pos = PACKET_SIZE,
                Some(_) => (pos, self.in_sync) = (1, false),
            }
            self.unconfirmed = false;
        }
        let mut first_err = None;
        while self.pending.len() - pos >= PACKET_SIZE {
            let sync = self.sync_at(pos);
            match sync {
                Sync::No => {
                    pos += 1;
                    continue;
                }
                Sync::NeedMore => break,
                Sync::Confirmed | Sync::Unconfirmed => {}
            }
            let mut packet = [0u8; PACKET_SIZE];
            packet.copy_from_slice(&self.pending[pos..pos + PACKET_SIZE]);
            if let Err(err) = self.handle_packet(&packet, out) {
                first_err.get_or_insert(err);
            }
            if self.refused.is_some() {
                break;
            }
            if matches!(sync, Sync::Unconfirmed) {
                self.unconfirmed = true; // keep it until the next byte arrives
                break;
            }
            pos += PACKET_SIZE;
        }
        self.pending.drain(..pos);
        if self.refused.is_some() {
            self.pending = Vec::new();
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Emits whatever is still buffered (call at end of stream): a last
    /// unconfirmed packet and the PES in progress on each track.
    pub fn flush(&mut self, out: &mut Vec<Tag>) {
        if self.refused.is_some() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let packet = pending.get(..PACKET_SIZE).filter(|p| p[0] == 0x47);
        if let Some(packet) = packet.filter(|_| !std::mem::take(&mut self.unconfirmed)) {
            let _ = self.handle_packet(packet.try_into().expect("188 bytes"), out);
        }
        for is_video in [true, false] {
            self.finish_pes(is_video, out);
        }
    }

    /// A packet is accepted at `pos` if it starts with 0x47 and the next
    /// packet does too. Without the next byte at hand, it is accepted
    /// (unconfirmed, to avoid latency) only while in sync; otherwise we wait.
    fn sync_at(&mut self, pos: usize) -> Sync {
        if self.pending[pos] != 0x47 {
            self.in_sync = false;
            return Sync::No;
        }
        match self.pending.get(pos + PACKET_SIZE) {
            Some(&0x47) => self.in_sync = true,
            Some(_) => self.in_sync = false,
            None if self.in_sync => return Sync::Unconfirmed,
            None => return Sync::NeedMore,
        }
        if self.in_sync {
            Sync::Confirmed
        } else {
            Sync::No
        }
    }

    fn handle_packet(&mut self, p: &[u8; PACKET_SIZE], out: &mut Vec<Tag>) -> Result<(), TsError> {
        if p[1] & 0x80 != 0 {
            return Ok(()); // transport_error_indicator: contents unreliable
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        let afc = (p[3] >> 4) & 3;
        let cc = p[3] & 0x0F;
        let mut start = 4;
        let mut discontinuity = false;
        if afc & 2 != 0 {
            let af_len = usize::from(p[4]);
            discontinuity = af_len > 0 && p[5] & 0x80 != 0;
            start += 1 + af_len;
        }
        if afc & 1 == 0 || start >= PACKET_SIZE {
            return Ok(());
        }
        let payload = &p[start..];
        if pid == 0 {
            if let Some(section) = self.pat.push(pusi, payload) {
                self.on_pat(&section);
            }
        } else if Some(pid) == self.pmt_pid {
            if let Some(section) = self.pmt.push(pusi, payload) {
                self.on_pmt(&section, out)?;
            }
        } else if let Some(is_video) = self.track_kind(pid) {
            self.on_es_packet(is_video, pusi, cc, discontinuity, payload, out)?;
        }
        Ok(())
    }

    fn track_kind(&self, pid: u16) -> Option<bool> {
        match (&self.video, &self.audio) {
            (Some(v), _) if v.pid == pid => Some(true),
            (_, Some(a)) if a.pid == pid => Some(false),
            _ => None,
        }
    }

    fn track_mut(&mut self, is_video: bool) -> Option<&mut Track> {
        if is_video {
            self.video.as_mut()
        } else {
            self.audio.as_mut()
        }
    }

    /// PAT: remember the PMT PID of the first real program.
    fn on_pat(&mut self, s: &[u8]) {
        if s[0] != 0x00 {
            return;
        }
        let entries = &s[8..s.len() - 4];
        let pmt_pid = entries
            .chunks_exact(4)
            .find(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
            .map(|e| u16::from(e[2] & 0x1F) << 8 | u16::from(e[3]));
        if pmt_pid.is_some() && pmt_pid != self.pmt_pid {
            self.pmt_pid = pmt_pid;
            self.pmt = Section::default();
        }
    }

    /// PMT: pick the first H.264 and AAC streams; refuse other A/V codecs.
    fn on_pmt(&mut self, s: &[u8], out: &mut Vec<Tag>) -> Result<(), TsError> {
        if s[0] != 0x02 || s.len() < 16 {
            return Ok(());
        }
        let info_len = usize::from(u16::from_be_bytes([s[10], s[11]]) & 0x0FFF);
        let mut es = s.get(12 + info_len..s.len() - 4).unwrap_or(&[]);
        let (mut video_pid, mut audio_pid) = (None, None);
        let mut unsupported = None;
        while es.len() >= 5 {
            let stream_type = es[0];
            let pid = u16::from(es[1] & 0x1F) << 8 | u16::from(es[2]);
            let es_info_len = usize::from(u16::from_be_bytes([es[3], es[4]]) & 0x0FFF);
            es = es.get(5 + es_info_len..).unwrap_or(&[]);
            match classify_stream_type(stream_type) {
                StreamKind::H264 => _ = video_pid.get_or_insert(pid),
                StreamKind::Aac => _ = audio_pid.get_or_insert(pid),
                StreamKind::Unsupported(name) => {
                    _ = unsupported.get_or_insert(TsError::UnsupportedCodec { stream_type, name })
                }
                StreamKind::Ignored => {}
            }
        }
        // An extra track we cannot carry (a second audio language in AC-3, say) is left out;
        // a stream with no H.264 and no AAC at all is refused.
        if let Some(err) = unsupported
            && video_pid.is_none()
            && audio_pid.is_none()
        {
            self.refused = Some(err.clone());
            return Err(err);
        }
        self.set_track(true, video_pid, out);
        self.set_track(false, audio_pid, out);
        Ok(())
    }

    /// Installs or replaces a track when the PMT changes its PID.
    fn set_track(&mut self, is_video: bool, pid: Option<u16>, out: &mut Vec<Tag>) {
        let current = if is_video { &self.video } else { &self.audio };
        if current.as_ref().map(|t| t.pid) == pid {
            return;
        }
        self.finish_pes(is_video, out);
        let track = pid.map(Track::new);
        if is_video {
            self.video = track
        } else {
            self.audio = track
        }
    }

    fn on_es_packet(
        &mut self,
        is_video: bool,
        pusi: bool,
        cc: u8,
        discontinuity: bool,
        payload: &[u8],
        out: &mut Vec<Tag>,
    ) -> Result<(), TsError> {
        let Some(track) = self.track_mut(is_video) else {
            return Ok(());
        };
        let expected = track.last_cc.map(|c| (c + 1) & 0x0F);
        if track.last_cc == Some(cc) && !pusi {
            return Ok(()); // duplicate packet, allowed once by the spec
        }
        track.last_cc = Some(cc);
        if expected.is_some_and(|e| e != cc) && !discontinuity && !pusi && !is_video {
            // Lost packet in an audio PES: its ADTS frames no longer line up; drop it (an
            // audio frame is short and stands alone).
            track.pes.clear();
            track.in_pes = false;
            return Ok(());
        }
        // A lost packet inside a video PES leaves a hole in one picture: the frame goes on
        // with the rest of its bytes, and the decoder conceals the damage. Dropping it would
        // cost every frame up to the next keyframe that refers to it (what libsrt's own
        // srt-live-transmit does too: it passes the stream on as it came).
        if pusi {
            self.finish_pes(is_video, out);
        }
        let Some(track) = self.track_mut(is_video) else {
            return Ok(());
        };
        if pusi {
            track.in_pes = true;
        } else if !track.in_pes {
            return Ok(());
        }
        if track.pes.len() + payload.len() > MAX_PES_SIZE {
            let pid = track.pid;
            track.pes = Vec::new();
            track.in_pes = false;
            return Err(TsError::TooLarge {
                pid,
                limit: MAX_PES_SIZE,
            });
        }
        track.pes.extend_from_slice(payload);
        if pes_complete(&track.pes) {
            self.finish_pes(is_video, out);
        }
        Ok(())
    }

    /// Parses and emits the buffered PES of a track, leaving it empty.
    fn finish_pes(&mut self, is_video: bool, out: &mut Vec<Tag>) {
        let Some(track) = self.track_mut(is_video) else {
            return;
        };
        let data = std::mem::take(&mut track.pes);
        track.in_pes = false;
        let Some(pes) = parse_pes(&data) else { return };
        if is_video {
            self.on_video(&pes, out);
        } else {
            self.on_audio(&pes, out);
        }
        if let Some(track) = self.track_mut(is_video) {
            // Reuse the allocation, but don't keep a huge one around.
            if data.capacity() <= 256 * 1024 {
                track.pes = data;
                track.pes.clear();
            }
        }
    }

    /// Makes `ms` usable as the next timestamp of a track: in range and
    /// strictly after the previous one. Video is pushed forward (dropping a
    /// frame would break decoding of the following ones); for audio `None`
    /// means drop the frame, e.g. audio that starts before the first video
    /// DTS, which is our zero.
    fn next_track_ms(&mut self, is_video: bool, ms: i64) -> Option<u32> {
        let track = self.track_mut(is_video)?;
        let min = track.last_ms.map_or(0, |last| i64::from(last) + 1);
        if ms < min && !is_video {
            return None;
        }
        let ms = ms.clamp(min, i64::from(u32::MAX)) as u32;
        track.last_ms = Some(ms);
        Some(ms)
    }

    fn on_video(&mut self, pes: &Pes, out: &mut Vec<Tag>) {
        let Some(pts) = pes.pts else { return };
        let dts = pes.dts.unwrap_or(pts);
        let cts = (signed_ts_diff(pts, dts) / 90).clamp(-(1 << 23), (1 << 23) - 1) as i32;
        let raw_ms = self.clock.ms_since_start(dts);

        let mut keyframe = false;
        let mut body = BytesMut::new();
        let (mut sps, mut pps) = (None, None);
        for nal in annexb_nals(pes.payload) {
            match nal[0] & 0x1F {
                7 => sps = Some(nal),
                8 => pps = Some(nal),
                9 => {}
                t => {
                    keyframe |= t == 5;
                    body.put_u32(nal.len() as u32);
                    body.put_slice(nal);
                }
            }
        }
        let Some(ms) = self.next_track_ms(true, raw_ms) else {
            return;
        };
        self.update_avc_config(sps, pps, ms, out);
        if body.is_empty() || self.sps.is_none() || self.pps.is_none() {
            return; // nothing to show, or no decoder config yet
        }
        let mut payload = BytesMut::with_capacity(5 + body.len());
        payload.put_u8(if keyframe { 0x17 } else { 0x27 });
        payload.put_u8(1);
        payload.put_slice(&cts.to_be_bytes()[1..]);
        payload.put_slice(&body);
        out.push(Tag {
            type_id: TAG_VIDEO,
            timestamp: ms,
            payload: payload.freeze(),
        });
    }

    /// Emits a sequence header when SPS or PPS appear or change.
    fn update_avc_config(
        &mut self,
        sps: Option<&[u8]>,
        pps: Option<&[u8]>,
        ms: u32,
        out: &mut Vec<Tag>,
    ) {
        let mut changed = false;
        if let Some(sps) = sps.filter(|s| s.len() >= 4 && self.sps.as_deref() != Some(*s)) {
            self.sps = Some(sps.to_vec());
            changed = true;
        }
        if let Some(pps) = pps.filter(|p| self.pps.as_deref() != Some(*p)) {
            self.pps = Some(pps.to_vec());
            changed = true;
        }
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
            return;
        };
        if !changed {
            return;
        }
        let Some(record) = build_avc_config(sps, pps) else {
            return;
        };
        let mut payload = vec![0x17, 0, 0, 0, 0];
        payload.extend_from_slice(&record);
        out.push(Tag {
            type_id: TAG_VIDEO,
            timestamp: ms,
            payload: payload.into(),
        });
    }

    fn on_audio(&mut self, pes: &Pes, out: &mut Vec<Tag>) {
        let Some(pts) = pes.pts.or(pes.dts) else {
            return;
        };
        let base = self.clock.ms_since_start(pts);
        let mut data = pes.payload;
        let mut index = 0i64;
        while let Some(AdtsFrame {
            config: cfg,
            raw,
            rest,
        }) = next_adts_frame(data)
        {
            data = rest;
            let Some(frame) = raw else { continue };
            let offset = index * 1024 * 1000 / i64::from(cfg.sample_rate());
            index += 1;
            let Some(ms) = self.next_track_ms(false, base.saturating_add(offset)) else {
                continue;
            };
            if self.aac != Some(cfg) {
                self.aac = Some(cfg);
                let mut asc = vec![0xAF, 0];
                asc.extend_from_slice(&cfg.to_asc());
                out.push(Tag {
                    type_id: TAG_AUDIO,
                    timestamp: ms,
                    payload: asc.into(),
                });
            }
            let mut payload = BytesMut::with_capacity(2 + frame.len());
            payload.put_slice(&[0xAF, 1]);
            payload.put_slice(frame);
            out.push(Tag {
                type_id: TAG_AUDIO,
                timestamp: ms,
                payload: payload.freeze(),
            });
        }
    }
}

impl Section {
    /// Adds a packet payload; returns a complete, CRC-checked section.
    fn push(&mut self, pusi: bool, payload: &[u8]) -> Option<Vec<u8>> {
        if pusi {
            let pointer = usize::from(payload[0]);
            self.buf.clear();
            self.buf.extend_from_slice(payload.get(1 + pointer..)?);
            self.active = true;
        } else if self.active {
            let room = MAX_SECTION_SIZE.saturating_sub(self.buf.len());
            self.buf
                .extend_from_slice(&payload[..payload.len().min(room)]);
        } else {
            return None;
        }
        if self.buf.len() < 3 {
            return None;
        }
        let len = 3 + usize::from(u16::from_be_bytes([self.buf[1], self.buf[2]]) & 0x0FFF);
        if !(12..=MAX_SECTION_SIZE).contains(&len) {
            self.active = false;
            return None;
        }
        if self.buf.len() < len {
            return None;
        }
        self.active = false;
        let section = &self.buf[..len];
        (crc32_mpeg2(section) == 0).then(|| section.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_needs_valid_crc() {
        let mut body = vec![0x00, 0xB0, 13, 0, 1, 0xC1, 0, 0, 0, 1, 0xF0, 0x00];
        let crc = crc32_mpeg2(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        let mut payload = vec![0];
        payload.extend_from_slice(&body);
        assert!(Section::default().push(true, &payload).is_some());
        payload[5] ^= 1;
        assert!(Section::default().push(true, &payload).is_none());
    }

    #[test]
    fn resyncs_after_garbage_split_across_pushes() {
        let mut demux = TsDemuxer::new();
        let mut out = Vec::new();
        let mut stream = vec![0x47, 1, 2];
        for _ in 0..3 {
            let mut p = [0xFFu8; PACKET_SIZE];
            p[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
            stream.extend_from_slice(&p);
        }
        for chunk in stream.chunks(50) {
            demux.push(chunk, &mut out).unwrap();
        }
        assert!(demux.buffered_bytes() < 2 * PACKET_SIZE);
        assert!(out.is_empty());
    }
}
