//! End-to-end tests against real ffmpeg output, checked with ffprobe.

mod ts_common;

use rtcroom_relay::srt::ts::{Tag, TsDemuxer, TsError, TsMuxer};
use ts_common::*;

/// Generates the brief's 6 s 320x240 H.264/AAC stream in `format`.
fn source(dir: &std::path::Path, bframes: u32, format: &'static str) -> Vec<u8> {
    let path = dir.join(format!("src-bf{bframes}.{format}"));
    let args = h264_aac_args(bframes, format);
    ffmpeg_generate(
        &path,
        "320x240",
        6,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    std::fs::read(path).unwrap()
}

fn mux_all(tags: &[Tag]) -> Vec<u8> {
    let mut mux = TsMuxer::new();
    let mut out = Vec::new();
    for tag in tags {
        mux.mux(tag, &mut out);
    }
    out
}

fn demux_to_flv_and_check(name: &str, bframes: u32) -> Vec<Tag> {
    let dir = scratch(name);
    let ts = source(&dir, bframes, "mpegts");
    let tags = demux_chunked(&ts);
    let flv = dir.join("out.flv");
    std::fs::write(&flv, write_flv(&tags)).unwrap();
    assert_h264_aac(&flv, 145);
    assert_decodes_cleanly(&flv);
    let _ = std::fs::remove_dir_all(dir);
    tags
}

#[test]
fn demux_h264_aac_without_bframes() {
    if !have_ffmpeg() {
        return;
    }
    let tags = demux_to_flv_and_check("demux-bf0", 0);
    assert!(
        tags.iter()
            .filter(|t| t.type_id == 9)
            .all(|t| t.payload[2..5] == [0, 0, 0])
    );
}

#[test]
fn demux_h264_aac_with_bframes() {
    if !have_ffmpeg() {
        return;
    }
    let tags = demux_to_flv_and_check("demux-bf2", 2);
    let video: Vec<&Tag> = tags.iter().filter(|t| t.type_id == 9).collect();
    assert!(
        video.iter().any(|t| t.payload[2..5] != [0, 0, 0]),
        "expected PTS != DTS"
    );
    assert!(video.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    // Exactly one video and one audio sequence header, both first of their kind.
    assert_eq!(video.iter().filter(|t| t.payload[1] == 0).count(), 1);
    assert_eq!(video[0].payload[1], 0);
}

#[test]
fn chunking_does_not_change_output() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("chunking");
    let ts = source(&dir, 2, "mpegts");
    let mut whole = Vec::new();
    let mut demux = TsDemuxer::new();
    demux.push(&ts, &mut whole).unwrap();
    demux.flush(&mut whole);
    assert_eq!(whole, demux_chunked(&ts));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mux_ffmpeg_flv_to_ts() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("mux");
    let tags = read_flv(&source(&dir, 2, "flv"));
    let out = dir.join("out.ts");
    std::fs::write(&out, mux_all(&tags)).unwrap();
    assert_h264_aac(&out, 145);
    assert_decodes_cleanly(&out);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn round_trip_ts_tags_ts() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("roundtrip");
    let tags = demux_chunked(&source(&dir, 2, "mpegts"));
    let ts = mux_all(&tags);
    let out = dir.join("out.ts");
    std::fs::write(&out, &ts).unwrap();
    assert_h264_aac(&out, 145);
    assert_decodes_cleanly(&out);
    // And back again: the same media tags come out of our own TS.
    let again = demux_chunked(&ts);
    // Compared per track: interleaving may differ because a video PES
    // (unbounded length) is only complete when the next one starts.
    for type_id in [8, 9] {
        let track = |t: &[Tag]| {
            t.iter()
                .filter(|t| t.type_id == type_id)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (a, b) = (track(&again), track(&tags));
        let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(
            (a.len(), first_diff),
            (b.len(), None),
            "type {type_id} tags differ after round trip"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn expect_unsupported(name: &str, args: &[&str]) -> TsError {
    let dir = scratch(name);
    let path = dir.join("in.ts");
    ffmpeg_generate(&path, "320x240", 1, args);
    let data = std::fs::read(path).unwrap();
    let mut demux = TsDemuxer::new();
    let mut tags = Vec::new();
    let err = data
        .chunks(1316)
        .find_map(|c| demux.push(c, &mut tags).err())
        .expect("unsupported codec not reported");
    assert!(tags.is_empty());
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(
        demux.push(&data[..188], &mut tags),
        Err(err.clone()),
        "refusal must stick"
    );
    err
}

#[test]
fn hevc_is_refused() {
    if !have_ffmpeg() {
        return;
    }
    let err = expect_unsupported("hevc", &["-c:v", "libx265", "-an", "-f", "mpegts"]);
    assert_eq!(
        err,
        TsError::UnsupportedCodec {
            stream_type: 0x24,
            name: "HEVC"
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("0x24") && msg.contains("HEVC") && msg.contains("H.264"),
        "{msg}"
    );
}

#[test]
fn mp2_audio_is_refused() {
    if !have_ffmpeg() {
        return;
    }
    let err = expect_unsupported("mp2", &["-vn", "-c:a", "mp2", "-f", "mpegts"]);
    assert!(
        matches!(
            err,
            TsError::UnsupportedCodec {
                stream_type: 0x03 | 0x04,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("MPEG-"), "{err}");
}

#[test]
fn garbage_between_packets_is_skipped() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("garbage");
    let ts = source(&dir, 2, "mpegts");
    // 50 bytes starting with a stray sync byte after every 7 packets.
    let garbage: Vec<u8> = (0..50u8).map(|i| if i == 0 { 0x47 } else { i }).collect();
    let dirty: Vec<u8> = ts
        .chunks(7 * 188)
        .flat_map(|c| [c, &garbage[..]].concat())
        .collect();
    let clean = demux_chunked(&ts);
    for chunk in [1, 1316 + 50] {
        let mut demux = TsDemuxer::new();
        let mut tags = Vec::new();
        for piece in dirty.chunks(chunk) {
            demux.push(piece, &mut tags).unwrap();
        }
        demux.flush(&mut tags);
        assert!(
            tags == clean,
            "chunk size {chunk}: {} vs {} tags",
            tags.len(),
            clean.len()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_extra_track_of_another_codec_is_left_out() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("extra-track");
    let path = dir.join("in.ts");
    ffmpeg_generate(
        &path,
        "320x240",
        2,
        &["-c:v", "libx264", "-g", "25", "-c:a", "mp2", "-f", "mpegts"],
    );
    let data = std::fs::read(path).unwrap();
    let mut demux = TsDemuxer::new();
    let mut tags = Vec::new();
    for chunk in data.chunks(1316) {
        demux
            .push(chunk, &mut tags)
            .expect("H.264 with an MP2 track is not refused");
    }
    demux.flush(&mut tags);
    assert!(
        tags.iter().filter(|t| t.type_id == 9).count() >= 45,
        "the H.264 goes on"
    );
    assert!(
        tags.iter().all(|t| t.type_id == 9),
        "the MP2 track is left out"
    );
    let _ = std::fs::remove_dir_all(dir);
}
