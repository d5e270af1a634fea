//! Segment files: where they go, how they are named, written (each piece written at once and
//! made durable by a sync task of the segment's own), closed (`.part` renamed away), and how a `.part` a crash left behind is cut back
//! to what reads and closed at the next start.
//!
//! ```text
//! {RTCROOM_RECORD_DIR}/{room type}/{room}/{user}_{stream}_{start ms}_{index}.{mp4|flv}[.part]
//! ```
//!
//! The room and user are percent-encoded (anything but ASCII letters, digits, `-` and `.`,
//! so `_` separates the name's fields); a room not known when the URL was signed is `_`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use bytes::Bytes;
use parking_lot::Mutex;
use rtcroom_shared::model::RoomType;
use rtcroom_shared::stream_events::SegmentReport;
use rtcroom_shared::urls::record::{RecordFormat, RecordPolicy};

use super::flv_file::whole_tags_by;
use super::mp4_read::{box_header, fragment_end_ms, track_timescales};

/// What a segment's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentName {
    pub room_type: RoomType,
    pub room_id: String,
    pub user_id: String,
    pub stream: String,
    /// Epoch ms of the segment's first media.
    pub start_ms: u64,
    pub index: u32,
    pub format: RecordFormat,
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // `.` and `..` alone are not names a directory may have.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

/// Percent-decodes `s` (`None` when malformed or not UTF-8): segment names' ids, and
/// download paths.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const NO_ROOM: &str = "_";

impl SegmentName {
    pub fn new(
        policy: &RecordPolicy,
        stream: &str,
        start_ms: u64,
        index: u32,
        format: RecordFormat,
    ) -> Self {
        Self {
            room_type: policy.room_type,
            room_id: policy.room_id.clone(),
            user_id: policy.user_id.clone(),
            stream: stream.to_owned(),
            start_ms,
            index,
            format,
        }
    }

    /// The closed file's path under the recording directory, `/`-separated.
    /// What the `recorded` event tells of this segment, closed with `bytes` bytes and
    /// `duration_ms` of media (not yet uploaded anywhere).
    pub fn report(&self, bytes: u64, duration_ms: u64) -> SegmentReport {
        SegmentReport {
            path: self.relative(),
            room_type: self.room_type,
            room_id: self.room_id.clone(),
            user_id: self.user_id.clone(),
            index: self.index,
            start: self.start_ms,
            duration: duration_ms,
            bytes,
            format: self.format.token().to_owned(),
            stored: None,
        }
    }

    pub fn relative(&self) -> String {
        let room = if self.room_id.is_empty() {
            NO_ROOM.to_owned()
        } else {
            encode(&self.room_id)
        };
        format!(
            "{}/{room}/{}_{}_{}_{}.{}",
            self.room_type.as_path(),
            encode(&self.user_id),
            self.stream,
            self.start_ms,
            self.index,
            self.format.extension()
        )
    }

    /// Reads a closed or `.part` file's path under the recording directory.
    pub fn parse(relative: &str) -> Option<Self> {
        let relative = relative.strip_suffix(".part").unwrap_or(relative);
        let mut parts = relative.split('/');
        let (Some(room_type), Some(room), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let (stem, ext) = file.rsplit_once('.')?;
        let (rest, index) = stem.rsplit_once('_')?;
        let (rest, start) = rest.rsplit_once('_')?;
        let (user, stream) = rest.split_once('_')?;
        Some(Self {
            room_type: RoomType::from_path(room_type)?,
            room_id: if room == NO_ROOM {
                String::new()
            } else {
                percent_decode(room)?
            },
            user_id: percent_decode(user)?,
            stream: stream.to_owned(),
            start_ms: start.parse().ok()?,
            index: index.parse().ok()?,
            format: RecordFormat::from_token(ext)?,
        })
    }
}

/// An open segment: appended to piece by piece. Each piece is written at once (in the page
/// cache it outlives a kill of the relay) and then made durable (`fdatasync`) by the segment's
/// sync task, so a slow sync never holds back the next write; syncs asked for while one runs
/// are folded into the next.
pub struct SegmentFile {
    file: Arc<File>,
    part: PathBuf,
    done: PathBuf,
    pub bytes: u64,
    sync: Syncer,
}

/// The segment's sync task: syncs once more whenever asked since its last sync began.
struct Syncer {
    wanted: Arc<Notify>,
    failed: Arc<Mutex<Option<std::io::Error>>>,
    task: JoinHandle<()>,
}

impl Syncer {
    fn start(file: Arc<File>) -> Self {
        let wanted = Arc::new(Notify::new());
        let failed = Arc::new(Mutex::new(None));
        let task = tokio::spawn({
            let (wanted, failed) = (wanted.clone(), failed.clone());
            async move {
                loop {
                    wanted.notified().await;
                    let file = file.clone();
                    let synced = tokio::task::spawn_blocking(move || file.sync_data())
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|r| r);
                    if let Err(e) = synced {
                        *failed.lock() = Some(e);
                        return;
                    }
                }
            }
        });
        Self {
            wanted,
            failed,
            task,
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SegmentFile {
    /// Creates `{dir}/{relative}.part` (and its directories).
    pub async fn create(dir: &Path, relative: &str) -> std::io::Result<Self> {
        let done = dir.join(relative);
        let part = PathBuf::from(format!("{}.part", done.display()));
        let file = {
            let part = part.clone();
            tokio::task::spawn_blocking(move || {
                if let Some(parent) = part.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                OpenOptions::new().create_new(true).write(true).open(&part)
            })
            .await
            .map_err(std::io::Error::other)??
        };
        let file = Arc::new(file);
        Ok(Self {
            sync: Syncer::start(file.clone()),
            file,
            part,
            done,
            bytes: 0,
        })
    }

    /// Appends `pieces` and asks for them to be made durable; fails when the write, or a sync
    /// since the last call, failed. A write that fails (a full disk) is cut off again, so the
    /// file ends with the last whole piece.
    pub async fn append(&mut self, pieces: Vec<Bytes>) -> std::io::Result<()> {
        if let Some(e) = self.sync.failed.lock().take() {
            return Err(e);
        }
        let file = self.file.clone();
        let n: usize = pieces.iter().map(Bytes::len).sum();
        let whole = self.bytes;
        tokio::task::spawn_blocking(move || {
            let mut f: &File = &file;
            for piece in &pieces {
                if let Err(e) = f.write_all(piece) {
                    let _ = file.set_len(whole);
                    return Err(e);
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(std::io::Error::other)??;
        self.bytes += n as u64;
        self.sync.wanted.notify_one();
        Ok(())
    }

    /// Makes the segment durable and renames the `.part` to its final name, beside its
    /// marker holding `report` (until the room service has it); the final path, and a sync
    /// of the sync task's that failed, if one did (what it wrote may not survive a machine
    /// crash, though it reads now).
    pub async fn close(
        self,
        report: &SegmentReport,
    ) -> std::io::Result<(PathBuf, Option<std::io::Error>)> {
        let sync_failed = self.sync.failed.lock().take();
        let (part, done, file) = (self.part, self.done, self.file);
        let report = report.clone();
        tokio::task::spawn_blocking(move || {
            file.sync_data()?;
            write_marker(&unreported(&done), &report)?;
            std::fs::rename(&part, &done)?;
            sync_dir(&done);
            Ok((done, sync_failed))
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The media duration (ms) of what the file holds, read from it.
    pub async fn measure(&self, format: RecordFormat) -> std::io::Result<u64> {
        let part = self.part.clone();
        tokio::task::spawn_blocking(move || measure(&part, format).map(|(_, ms)| ms))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Removes a segment that holds no media.
    pub async fn discard(self) {
        let part = self.part;
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(part)).await;
    }
}

fn sync_dir(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// `n` bytes of `file` at `at`, or `None` past its end.
fn read_at(file: &File, at: u64, n: usize) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; n];
    file.read_exact_at(&mut buf, at).ok()?;
    Some(buf)
}

/// The most a `moov` or `moof` box may be for recovery to read it (ours are a few KiB).
const MAX_HEADER_BOX: u64 = 16 * 1024 * 1024;

/// What is left of a `.part` file of `len` bytes after a crash: how many bytes read whole,
/// and the media duration (ms) they hold. `None`: nothing playable. Reads box and tag headers
/// (and MP4's `moov` and `moof` boxes), never the media.
pub fn readable_prefix(file: &File, len: u64, format: RecordFormat) -> Option<(u64, u64)> {
    match format {
        RecordFormat::Flv => {
            let (end, last_ms) = whole_tags_by(len, |at, n| read_at(file, at, n));
            (end > 13).then_some((end, last_ms))
        }
        RecordFormat::Mp4 => {
            // ftyp, moov, then moof + mdat pairs: keep through the last whole pair.
            let mut at = 0u64;
            let mut timescales = None;
            let mut kept = None;
            let mut moof: Option<Vec<u8>> = None;
            while let Some(head) = read_at(file, at, 16).or_else(|| read_at(file, at, 8)) {
                let Some((kind, size)) = box_header(&head) else {
                    break;
                };
                let Some(end) = at.checked_add(size).filter(|end| size >= 8 && *end <= len) else {
                    break;
                };
                let whole_box = || {
                    (size <= MAX_HEADER_BOX)
                        .then(|| read_at(file, at, size as usize))
                        .flatten()
                };
                match &kind {
                    b"moov" => timescales = whole_box().and_then(|b| track_timescales(&b)),
                    b"moof" => moof = whole_box(),
                    b"mdat" => {
                        if let (Some(m), Some(scales)) = (moof.take(), &timescales) {
                            match fragment_end_ms(&m, scales) {
                                Some(end_ms) => kept = Some((end, end_ms)),
                                None => break,
                            }
                        }
                    }
                    _ => {}
                }
                at = end;
            }
            kept
        }
    }
}

/// Cuts a `.part` file back to what reads and renames it; its name and the readable prefix's
/// size and duration. A file with nothing playable is removed (`Ok(None)`).
pub fn finalise_part(dir: &Path, part: &Path) -> std::io::Result<Option<(SegmentName, u64, u64)>> {
    let relative = part
        .strip_prefix(dir)
        .map_err(std::io::Error::other)?
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/");
    let Some(name) = SegmentName::parse(&relative) else {
        return Err(std::io::Error::other(format!(
            "{relative} is not a segment's name"
        )));
    };
    let readable = {
        let file = File::open(part)?;
        let len = file.metadata()?.len();
        readable_prefix(&file, len, name.format)
    };
    match readable {
        None => {
            std::fs::remove_file(part)?;
            Ok(None)
        }
        Some((len, duration)) => {
            let file = OpenOptions::new().write(true).open(part)?;
            file.set_len(len)?;
            file.sync_all()?;
            let done = dir.join(name.relative());
            write_marker(&unreported(&done), &name.report(len, duration))?;
            std::fs::rename(part, &done)?;
            sync_dir(&done);
            Ok(Some((name, len, duration)))
        }
    }
}

/// The marker beside a closed segment that the room service has not confirmed yet: it is
/// told again at the next start, so a segment is never left unlisted.
pub fn unreported(segment: &Path) -> PathBuf {
    PathBuf::from(format!("{}.unreported", segment.display()))
}

/// Writes (or rewrites in place: a marker's one block is never given back, so this works on
/// a full disk) a segment's marker with its report, durably.
pub fn write_marker(marker: &Path, report: &SegmentReport) -> std::io::Result<()> {
    let json = serde_json::to_vec(report).expect("a report serialises");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(marker)?;
    file.write_all(&json)?;
    file.set_len(json.len() as u64)?;
    file.sync_all()
}

/// The report a marker holds (`None`: none, or a marker from before reports were kept).
pub fn read_marker(marker: &Path) -> Option<SegmentReport> {
    serde_json::from_slice(&std::fs::read(marker).ok()?).ok()
}

/// A closed segment's size and media duration (ms), read back from its headers.
pub fn measure(segment: &Path, format: RecordFormat) -> std::io::Result<(u64, u64)> {
    let file = File::open(segment)?;
    let len = file.metadata()?.len();
    let duration = readable_prefix(&file, len, format).map_or(0, |(_, d)| d);
    Ok((len, duration))
}

/// Every file under `dir` whose name ends with `.{extension}` (three levels: type, room,
/// file): `.part` files a crash left, `.unreported` markers.
pub fn leftovers(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(types) = std::fs::read_dir(dir) else {
        return found;
    };
    for t in types.flatten() {
        let Ok(rooms) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for r in rooms.flatten() {
            let Ok(files) = std::fs::read_dir(r.path()) else {
                continue;
            };
            found.extend(
                files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|e| e == extension)),
            );
        }
    }
    found.sort();
    found
}

/// Free bytes on the file system holding `dir` (for an unprivileged process).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)] // c_ulong is u32 on some targets
    Ok(u64::from(stat.f_bavail) * u64::from(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_room_user_stream_start_and_index_whatever_the_ids_hold() {
        for (room, user) in [
            ("r1", "alice"),
            ("", "bob_1"),
            ("会议 室/..", "a%b_c"),
            ("..", "."),
        ] {
            let policy = RecordPolicy {
                format: RecordFormat::Mp4,
                room_type: RoomType::Double,
                room_id: room.into(),
                user_id: user.into(),
            };
            let name = SegmentName::new(
                &policy,
                "8888_bob_1_00ff",
                1_700_000_000_123,
                3,
                RecordFormat::Flv,
            );
            let relative = name.relative();
            assert_eq!(relative.split('/').count(), 3, "{relative}");
            assert!(
                !relative.split('/').any(|p| p == "." || p == ".."),
                "{relative}"
            );
            assert_eq!(
                SegmentName::parse(&relative),
                Some(name.clone()),
                "{relative}"
            );
            assert_eq!(SegmentName::parse(&format!("{relative}.part")), Some(name));
        }
        assert_eq!(SegmentName::parse("double_room/r/a_s_1_2.avi"), None);
        assert_eq!(SegmentName::parse("nowhere/r/a_s_1_2.mp4"), None);
    }
}
