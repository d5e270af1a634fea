//! Fragmented MP4 from the relay's FLV-tag media: an init segment (`ftyp` + `moov`) built from
//! the stream's own decoder configuration records (H.264's `avcC`, AAC's AudioSpecificConfig),
//! then one `moof` + `mdat` fragment per keyframe, cut sooner when a fragment would span more
//! than the configured time. The boxes are encoded by `mp4-atom`; what goes in them (tracks,
//! timing, fragment boundaries) is decided here.
//!
//! Timing: both tracks count from the segment's first video keyframe (or its first audio frame
//! when it has no video): video in a 90 kHz timescale, audio in its sample rate, both from the
//! tags' millisecond timestamps, so a fragment's `tfdt` is the real decode time and the tracks
//! stay in sync however the fragments fall. A sample's duration is the distance to the next
//! sample of its track, so each track holds its last sample back until the next one comes (or
//! the segment ends).

use bytes::Bytes;
use mp4_atom::{
    Encode, Ftyp, Mfhd, Moof, Moov, Mvex, Mvhd, Tfdt, Tfhd, Traf, Trex, Trun, TrunEntry,
    TrunSamples,
};

use super::mp4_init::trak;
pub use super::mp4_init::{TrackConfig, Unsupported};

use crate::media::{Frame, TYPE_AUDIO, TYPE_VIDEO};

const VIDEO_TIMESCALE: u64 = 90_000;
const VIDEO_TRACK: u32 = 1;
/// Sample flags: a sync sample (depends on nothing), and a non-sync one.
const SYNC: u32 = 0x0200_0000;
const NOT_SYNC: u32 = 0x0101_0000;

/// One sample, its time in its track's timescale.
#[derive(Debug)]
struct Sample {
    dts: u64,
    cts: i64,
    data: Bytes,
    sync: bool,
}

#[derive(Debug)]
struct Track {
    id: u32,
    timescale: u64,
    config: TrackConfig,
    /// Samples whose durations are known, for the next fragment.
    ready: Vec<(Sample, u32)>,
    /// The last sample, until the next one gives its duration.
    held: Option<Sample>,
    last_duration: u32,
}

impl Track {
    fn new(id: u32, config: TrackConfig) -> Self {
        let (timescale, default) = match &config {
            TrackConfig::H264 { .. } => (VIDEO_TIMESCALE, 3_600),
            TrackConfig::Aac { rate, .. } => (u64::from(*rate), 1_024),
        };
        Self {
            id,
            timescale,
            config,
            ready: Vec::new(),
            held: None,
            last_duration: default,
        }
    }

    fn ticks(&self, ms: u64) -> u64 {
        (ms * self.timescale + 500) / 1000
    }

    fn push(&mut self, mut sample: Sample) {
        if let Some(held) = self.held.take() {
            // Decode times only go forward within a track.
            sample.dts = sample.dts.max(held.dts + 1);
            let duration = (sample.dts - held.dts).min(u64::from(u32::MAX)) as u32;
            self.last_duration = duration;
            self.ready.push((held, duration));
        }
        self.held = Some(sample);
    }

    /// The held sample, its duration given by the next sample's decode time `next_dts`.
    fn settle(&mut self, next_dts: u64) {
        if let Some(held) = self.held.take() {
            let duration = next_dts
                .saturating_sub(held.dts)
                .clamp(1, u64::from(u32::MAX)) as u32;
            self.last_duration = duration;
            self.ready.push((held, duration));
        }
    }

    /// At the segment's end: the held sample too, with its predecessor's duration.
    fn release(&mut self) {
        if let Some(held) = self.held.take() {
            self.ready.push((held, self.last_duration));
        }
    }

    /// The decode time just past the ready samples.
    fn ready_end(&self) -> Option<u64> {
        self.ready.last().map(|(s, d)| s.dts + u64::from(*d))
    }
}

/// What the muxer has made of a message.
#[derive(Debug, Default)]
pub struct Output {
    /// Bytes to append to the segment (the init segment, fragments), in order.
    pub bytes: Vec<Bytes>,
}

/// One segment's fragmented MP4 writer.
#[derive(Debug)]
pub struct Fmp4Segment {
    video: Option<Track>,
    audio: Option<Track>,
    /// The tag timestamp (ms) the segment's time counts from.
    origin_ms: Option<u64>,
    /// The ms timestamp of the first sample in the open fragment.
    fragment_start_ms: Option<u64>,
    max_fragment_ms: u64,
    sequence: u32,
    /// The latest media time (ms) a sample has begun at, and one fragmented has ended at.
    last_ms: u64,
    written_end_ms: u64,
}

impl Fmp4Segment {
    /// A segment with the tracks the stream has (at least one).
    pub fn new(
        video: Option<TrackConfig>,
        audio: Option<TrackConfig>,
        max_fragment_ms: u64,
    ) -> Self {
        let audio_id = if video.is_some() { 2 } else { 1 };
        Self {
            video: video.map(|c| Track::new(VIDEO_TRACK, c)),
            audio: audio.map(|c| Track::new(audio_id, c)),
            origin_ms: None,
            fragment_start_ms: None,
            max_fragment_ms,
            sequence: 1,
            last_ms: 0,
            written_end_ms: 0,
        }
    }

    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// The tag timestamp (ms) the segment counts from, once it has begun.
    pub fn origin_ms(&self) -> Option<u64> {
        self.origin_ms
    }

    /// The init segment (`ftyp` + `moov`).
    pub fn init(&self) -> Bytes {
        let mut out = Vec::new();
        Ftyp {
            major_brand: b"iso6".into(),
            minor_version: 0,
            compatible_brands: vec![b"iso6".into(), b"mp41".into(), b"isom".into()],
        }
        .encode(&mut out)
        .expect("ftyp encodes");
        let tracks: Vec<&Track> = self.video.iter().chain(self.audio.iter()).collect();
        Moov {
            mvhd: Mvhd {
                timescale: 1000,
                rate: 1.into(),
                volume: 1.into(),
                next_track_id: tracks.len() as u32 + 1,
                ..Default::default()
            },
            mvex: Some(Mvex {
                trex: tracks
                    .iter()
                    .map(|t| Trex {
                        track_id: t.id,
                        default_sample_description_index: 1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            trak: tracks
                .iter()
                .map(|t| trak(t.id, t.timescale, &t.config))
                .collect(),
            ..Default::default()
        }
        .encode(&mut out)
        .expect("moov encodes");
        out.into()
    }

    /// Takes one media message of the stream (not a sequence header); returns whatever
    /// fragment it completes. Messages before the segment's first keyframe (or, without
    /// video, its first audio frame) are skipped.
    pub fn push(&mut self, frame: &Frame) -> Option<Bytes> {
        let ms = u64::from(frame.timestamp);
        let is_video = frame.type_id == TYPE_VIDEO;
        let origin = match self.origin_ms {
            Some(origin) => origin,
            None if (is_video && frame.keyframe) || (!is_video && self.video.is_none()) => {
                self.origin_ms = Some(ms);
                ms
            }
            None => return None,
        };
        // Audio from before the segment's first keyframe has no place in it.
        if ms < origin {
            return None;
        }
        let rel = ms - origin;
        // A keyframe closes the fragment before it, with the video sample held back for its
        // duration (the keyframe gives it), so that the next fragment starts at the keyframe;
        // a fragment grown past its bound is closed too.
        let keyframe = is_video && frame.keyframe;
        let cut = self
            .fragment_start_ms
            .is_some_and(|start| keyframe || ms.saturating_sub(start) >= self.max_fragment_ms);
        if cut
            && keyframe
            && let Some(video) = self.video.as_mut()
        {
            let dts = video.ticks(rel);
            video.settle(dts);
        }
        let fragment = if cut { self.fragment() } else { None };
        let sample = match (frame.type_id, frame.payload.as_ref()) {
            (TYPE_VIDEO, [_, 1, c0, c1, c2, data @ ..]) => {
                // The composition time offset is a signed 24-bit count of milliseconds.
                let raw = i32::from_be_bytes([0, *c0, *c1, *c2]);
                let cts_ms = (raw << 8) >> 8;
                self.video.as_mut().map(|t| {
                    let dts = t.ticks(rel);
                    (
                        t,
                        Sample {
                            dts,
                            cts: i64::from(cts_ms) * VIDEO_TIMESCALE as i64 / 1000,
                            data: frame.payload.slice_ref(data),
                            sync: frame.keyframe,
                        },
                    )
                })
            }
            (TYPE_AUDIO, [_, 1, data @ ..]) => self.audio.as_mut().map(|t| {
                let dts = t.ticks(rel);
                (
                    t,
                    Sample {
                        dts,
                        cts: 0,
                        data: frame.payload.slice_ref(data),
                        sync: true,
                    },
                )
            }),
            _ => None,
        };
        if let Some((track, sample)) = sample {
            if sample.data.is_empty() {
                return fragment;
            }
            track.push(sample);
            self.fragment_start_ms.get_or_insert(ms);
            self.last_ms = self.last_ms.max(rel);
        }
        fragment
    }

    /// The segment's end: its last fragment, with every held sample.
    pub fn finish(&mut self) -> Option<Bytes> {
        for track in self.video.iter_mut().chain(self.audio.iter_mut()) {
            track.release();
        }
        self.fragment()
    }

    /// Media time from the segment's first sample to the end of what has been fragmented (or
    /// is ready to be).
    pub fn duration_ms(&self) -> u64 {
        self.video
            .iter()
            .chain(self.audio.iter())
            .filter_map(|t| t.ready_end().map(|end| end * 1000 / t.timescale))
            .chain([self.written_end_ms, self.last_ms])
            .max()
            .unwrap_or(0)
    }

    /// A `moof` + `mdat` of every ready sample (none: `None`).
    fn fragment(&mut self) -> Option<Bytes> {
        self.fragment_start_ms = None;
        let tracks: Vec<&mut Track> = self
            .video
            .iter_mut()
            .chain(self.audio.iter_mut())
            .filter(|t| !t.ready.is_empty())
            .collect();
        if tracks.is_empty() {
            return None;
        }
        let mut trafs = Vec::new();
        let mut payload: Vec<Bytes> = Vec::new();
        let mut sizes = Vec::new();
        for track in tracks {
            if let Some(end) = track.ready_end() {
                self.written_end_ms = self.written_end_ms.max(end * 1000 / track.timescale);
            }
            let samples = std::mem::take(&mut track.ready);
            let video = matches!(track.config, TrackConfig::H264 { .. });
            let base = samples[0].0.dts;
            let entries = samples
                .iter()
                .map(|(s, duration)| TrunEntry {
                    duration: Some(*duration),
                    size: Some(s.data.len() as u32),
                    flags: video.then_some(if s.sync { SYNC } else { NOT_SYNC }),
                    cts: video.then_some(s.cts),
                })
                .collect();
            sizes.push(samples.iter().map(|(s, _)| s.data.len()).sum::<usize>());
            payload.extend(samples.into_iter().map(|(s, _)| s.data));
            trafs.push(Traf {
                tfhd: Tfhd {
                    track_id: track.id,
                    default_sample_flags: (!video).then_some(SYNC),
                    default_base_is_moof: true,
                    ..Default::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: base,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: TrunSamples::Explicit(entries),
                }],
                ..Default::default()
            });
        }
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: self.sequence,
            },
            traf: trafs,
        };
        self.sequence += 1;
        // Data offsets count from the moof's start: its size, the mdat header, then the
        // tracks' data in order. The offsets' own size does not change with their values.
        let mut sized = Vec::new();
        moof.encode(&mut sized).expect("moof encodes");
        let mut offset = sized.len() + 8;
        for (traf, size) in moof.traf.iter_mut().zip(&sizes) {
            traf.trun[0].data_offset = Some(offset as i32);
            offset += size;
        }
        let mut out = Vec::with_capacity(offset);
        moof.encode(&mut out).expect("moof encodes");
        let data_len: usize = sizes.iter().sum();
        out.extend_from_slice(&((data_len + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
        for piece in payload {
            out.extend_from_slice(&piece);
        }
        Some(out.into())
    }
}

#[cfg(test)]
mod tests {
    use mp4_atom::Decode;

    use super::*;
    use crate::media::Frame;

    /// An AVCDecoderConfigurationRecord around a real 1280x720 SPS and PPS.
    fn avc_record() -> Vec<u8> {
        let sps = b"gd\0\x1f\xac$\x84\x01@\x16\xec\x04@\0\0\x03\0@\0\0\x0c#\xc6\x0c\x92";
        let pps = b"h\xee2\xc8\xb0";
        let mut r = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1];
        r.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        r.extend_from_slice(sps);
        r.push(1);
        r.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        r.extend_from_slice(pps);
        r
    }

    fn video(ms: u32, key: bool) -> Frame {
        let head = if key { 0x17 } else { 0x27 };
        Frame::new(
            TYPE_VIDEO,
            ms,
            Bytes::from(vec![head, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
        )
    }

    fn audio(ms: u32) -> Frame {
        Frame::new(TYPE_AUDIO, ms, Bytes::from_static(&[0xaf, 1, 0x21, 0x10]))
    }

    #[test]
    fn fragments_start_at_keyframes_and_carry_the_tags_times() {
        let mut header = vec![0x17, 0, 0, 0, 0];
        header.extend_from_slice(&avc_record());
        let config = TrackConfig::from_header(TYPE_VIDEO, &header)
            .unwrap()
            .unwrap();
        assert!(matches!(
            config,
            TrackConfig::H264 {
                width: 1280,
                height: 720,
                ..
            }
        ));
        let aac = TrackConfig::from_header(TYPE_AUDIO, &[0xaf, 0, 0x12, 0x10]).unwrap();
        let mut seg = Fmp4Segment::new(Some(config), aac, 500);
        // Audio before the first keyframe is not in the segment; video at 25 fps from 1000 ms
        // with a keyframe every 10 frames, audio every ~23 ms.
        let mut fragments = Vec::new();
        assert!(seg.push(&audio(990)).is_none());
        let mut a = 1000;
        for i in 0..40u32 {
            let ms = 1000 + i * 40;
            while a < ms {
                fragments.extend(seg.push(&audio(a)));
                a += 23;
            }
            fragments.extend(seg.push(&video(ms, i % 10 == 0)));
        }
        fragments.extend(seg.finish());
        assert!(fragments.len() >= 4, "{} fragments", fragments.len());
        let mut next_video_dts = 0;
        for (i, bytes) in fragments.iter().enumerate() {
            let moof = Moof::decode(&mut &bytes[..]).unwrap();
            let video = moof.traf.iter().find(|t| t.tfhd.track_id == 1).unwrap();
            let first = video.trun[0].samples.get(0).unwrap();
            if i < 4 {
                // Each keyframe opens a fragment.
                assert_eq!(first.flags, Some(SYNC), "fragment {i}");
            }
            let base = video.tfdt.as_ref().unwrap().base_media_decode_time;
            assert_eq!(
                base, next_video_dts,
                "fragment {i} starts where the last ended"
            );
            let durations: u64 = video.trun[0]
                .samples
                .iter()
                .map(|e| u64::from(e.duration.unwrap()))
                .sum();
            next_video_dts = base + durations;
            // Audio starts with the video (the first keyframe is time 0).
            if i == 0 {
                let audio = moof.traf.iter().find(|t| t.tfhd.track_id == 2).unwrap();
                assert_eq!(audio.tfdt.as_ref().unwrap().base_media_decode_time, 0);
            }
        }
        // 40 frames of 40 ms.
        assert_eq!(next_video_dts, 40 * 3_600);
        assert_eq!(seg.duration_ms(), 1_600);
    }
}
