//! A disk that fills up mid-call (a 1.5 MiB tmpfs, mounted in a mount namespace of the relay's
//! own, so no privilege is needed): the segment is closed at its last whole fragment and
//! told, no further segment starts while the space is short, and the call goes on for its
//! players to the end.

mod record_common;

use record_common::*;

/// A stream that fills a small disk fast: noisy 640x360 video at ~3 Mbit/s, and a tone, in
/// real time for `secs`.
fn heavy_publish(url: &str, secs: u32) -> Child {
    testing::ffmpeg()
        .args(["-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440"])
        .args(["-vf", "noise=alls=60:allf=t+u", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "3M"])
        .args([
            "-g",
            "25",
            "-c:a",
            "aac",
            "-t",
            &secs.to_string(),
            "-f",
            "flv",
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_closes_the_segment_cleanly_and_the_call_goes_on() {
    let dir = temp_dir("full");
    let (events, seen) = testing::event_receiver(0).await;
    let mut unshare = Command::new("unshare");
    unshare.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        "mount -t tmpfs -o size=1536k tmpfs \"$0\" && exec \"$1\"",
    ]);
    unshare.arg(&dir).arg(RELAY);
    let (mut relay, base, http) = relay_process_as(unshare, &dir, &events, &[]);
    // What the relay sees of its directory (its own mount), from outside.
    let inside =
        PathBuf::from(format!("/proc/{}/root", relay.id())).join(dir.strip_prefix("/").unwrap());
    let stream = "8888_ivy_0001";
    let url = testing::signed_recorded(
        PUSH_KEY,
        &base,
        stream,
        &policy(RecordFormat::Mp4, "r5", "ivy"),
    );
    let secs = 12;
    let publisher = heavy_publish(&url, secs);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let played = newest_timestamp_played(&http, stream);
    until("the disk full and the segment closed", 30, || {
        segments(&seen).len() == 1
    })
    .await;
    finished(publisher);
    // The players had the whole call.
    let had = played.load(Ordering::Relaxed) as f64 / 1000.0;
    assert!(had >= f64::from(secs) - 1.5, "the player had {had:.2} s");
    assert!(metric(&http, "write_errors_total") >= 1);
    assert!(
        metric(&http, "refused_disk_total") >= 1,
        "no segment after the first"
    );
    let told = segments(&seen);
    assert_eq!(told.len(), 1, "{told:?}");
    let segment = &told[0];
    assert!(segment.bytes <= 1536 * 1024, "{segment:?}");
    let file = inside.join(&segment.path);
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        segment.bytes,
        "{}",
        file.display()
    );
    // It reads to its end: the write that failed was cut off again.
    let p = probe(&file);
    p.assert_h264_aac(&file.display().to_string());
    assert!(
        (p.duration * 1000.0 - segment.duration as f64).abs() < 600.0 && p.duration > 1.0,
        "{p:?} {segment:?}"
    );
    assert!(
        !files(&inside).iter().any(|f| f.ends_with(".part")),
        "{:?}",
        files(&inside)
    );
    let _ = relay.kill();
    let _ = relay.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
