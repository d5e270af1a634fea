//! Helpers shared by the integration tests: ffmpeg/ffprobe wrappers and a
//! minimal FLV reader/writer (just enough to hand tags to/from ffmpeg).
#![allow(dead_code)]

use rtcroom_relay::srt::ts::{Tag, TsDemuxer};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Checks that ffmpeg and ffprobe can be run (the test command installs them): a missing
/// tool fails the test rather than skipping it.
pub fn have_ffmpeg() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let present = ok("ffmpeg") && ok("ffprobe");
    assert!(
        present,
        "ffmpeg and ffprobe are needed: apt-get install ffmpeg"
    );
    present
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcroom-ts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ffmpeg with lavfi test sources (video + sine) and `codec_args`.
pub fn ffmpeg_generate(out: &Path, size: &str, secs: u32, codec_args: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=25"))
        .args(["-f", "lavfi", "-i", "sine", "-t"])
        .arg(secs.to_string())
        .args(codec_args)
        .arg(out);
    let result = cmd.output().unwrap();
    assert!(
        result.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The standard H.264 + AAC test stream of the brief.
pub fn h264_aac_args(bframes: u32, format: &'static str) -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-bf",
        &bframes.to_string(),
        "-c:a",
        "aac",
        "-f",
        format,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Feeds `data` to a demuxer in odd, varying chunk sizes.
pub fn demux_chunked(data: &[u8]) -> Vec<Tag> {
    let mut demux = TsDemuxer::new();
    let mut tags = Vec::new();
    let sizes = [1usize, 7, 187, 189, 1316, 333, 4096, 2];
    let mut pos = 0;
    for size in sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + size).min(data.len());
        demux.push(&data[pos..end], &mut tags).expect("demux error");
        pos = end;
    }
    demux.flush(&mut tags);
    tags
}

/// One stream as reported by ffprobe.
#[derive(Debug, Default)]
pub struct Stream {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// Runs ffprobe -count_frames and extracts the fields from its JSON.
pub fn probe(path: &Path) -> Vec<Stream> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    let field = |chunk: &str, key: &str| -> String {
        let Some(at) = chunk.find(&format!("\"{key}\": ")) else {
            return String::new();
        };
        let rest = &chunk[at + key.len() + 4..];
        let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
        rest[..end].trim().trim_matches('"').to_string()
    };
    json.split("\"codec_name\"")
        .skip(1)
        .map(|chunk| {
            let chunk = format!("\"codec_name\"{chunk}");
            Stream {
                codec: field(&chunk, "codec_name"),
                width: field(&chunk, "width").parse().unwrap_or(0),
                height: field(&chunk, "height").parse().unwrap_or(0),
                frames: field(&chunk, "nb_read_frames").parse().unwrap_or(0),
            }
        })
        .collect()
}

/// Asserts h264 320x240 with ≥ `min_frames` frames plus an aac stream.
pub fn assert_h264_aac(path: &Path, min_frames: u32) {
    let streams = probe(path);
    let video = streams
        .iter()
        .find(|s| s.codec == "h264")
        .unwrap_or_else(|| panic!("no h264: {streams:?}"));
    assert_eq!((video.width, video.height), (320, 240), "{streams:?}");
    assert!(video.frames >= min_frames, "{streams:?}");
    let audio = streams
        .iter()
        .find(|s| s.codec == "aac")
        .unwrap_or_else(|| panic!("no aac: {streams:?}"));
    assert!(audio.frames > 0, "{streams:?}");
}

/// Decodes the whole file and asserts ffmpeg reports no errors.
pub fn assert_decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg errors for {path:?}:\n{stderr}"
    );
}

/// Serialises tags as an FLV file (header, tags, PreviousTagSize).
pub fn write_flv(tags: &[Tag]) -> Vec<u8> {
    let mut flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    for tag in tags {
        let size = tag.payload.len() as u32;
        flv.push(tag.type_id);
        flv.extend_from_slice(&size.to_be_bytes()[1..]);
        flv.extend_from_slice(&tag.timestamp.to_be_bytes()[1..]);
        flv.push((tag.timestamp >> 24) as u8);
        flv.extend_from_slice(&[0, 0, 0]);
        flv.extend_from_slice(&tag.payload);
        flv.extend_from_slice(&(size + 11).to_be_bytes());
    }
    flv
}

/// Parses an FLV file into its audio/video tags (script tags dropped).
pub fn read_flv(flv: &[u8]) -> Vec<Tag> {
    assert_eq!(&flv[..3], b"FLV");
    let mut pos = u32::from_be_bytes(flv[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while pos + 11 <= flv.len() {
        let h = &flv[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let Some(body) = flv.get(pos + 11..pos + 11 + size) else {
            break;
        };
        if h[0] == 8 || h[0] == 9 {
            tags.push(Tag {
                type_id: h[0],
                timestamp,
                payload: body.to_vec().into(),
            });
        }
        pos += 11 + size + 4;
    }
    tags
}
