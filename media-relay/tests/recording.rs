//! Recording, end to end: real ffmpeg publishes to URLs signed as the room service signs them,
//! the relay writes segments, ffprobe reads them; a relay killed with SIGKILL leaves `.part`
//! files the next start closes.

mod record_common;

use record_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_stream_is_cut_into_segments_that_read_whole_and_in_sync() {
    let dir = temp_dir("segments");
    let (events, seen) = testing::event_receiver(0).await;
    // RTCROOM_TEST_RECORD_SECS (default 12; the acceptance run is 60): segments of a little
    // under half of it, so three of them.
    let secs: u32 = std::env::var("RTCROOM_TEST_RECORD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let segment_secs = secs / 2 - 1;
    let segment_var = segment_secs.to_string();
    let relay = recording_relay(
        &dir,
        &events,
        &[("RTCROOM_RECORD_SEGMENT_SECS", segment_var.as_str())],
    )
    .await;
    let stream = "8888_alice_0001";
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        stream,
        &policy(RecordFormat::Mp4, "room 1", "alice"),
    );
    let publish_started = Instant::now();
    finished(testing::publish(&url, TestPattern { audio: true, secs }));
    let published = publish_started.elapsed().as_secs_f64();
    until("three segments told", 15, || segments(&seen).len() == 3).await;
    println!(
        "published {secs} s; segments {:?} s",
        segments(&seen)
            .iter()
            .map(|s| s.duration as f64 / 1000.0)
            .collect::<Vec<_>>()
    );

    let told = segments(&seen);
    // Each segment's `.unreported` marker goes once the room service has confirmed it.
    until("the segments' markers gone", 5, || {
        files(&dir).iter().all(|f| !f.ends_with(".unreported"))
    })
    .await;
    let names = files(&dir);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.iter().all(
            |n| n.starts_with("double_room/room%201/alice_8888_alice_0001_") && n.ends_with(".mp4")
        ),
        "{names:?}"
    );
    let mut total = 0.0;
    for (i, segment) in told.iter().enumerate() {
        assert_eq!(segment.index as usize, i);
        assert_eq!(
            (
                segment.room_id.as_str(),
                segment.user_id.as_str(),
                segment.format.as_str()
            ),
            ("room 1", "alice", "mp4")
        );
        let file = dir.join(&segment.path);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), segment.bytes);
        let p = probe(&file);
        let (vcodec, vfirst, vlast) = p.video.clone().expect("a video track");
        let (acodec, afirst, alast) = p.audio.clone().expect("an audio track");
        assert_eq!((vcodec.as_str(), acodec.as_str()), ("h264", "aac"));
        println!(
            "segment {i}: {:.3} s; video {vfirst:.3}..{vlast:.3}, audio {afirst:.3}..{alast:.3}",
            p.duration
        );
        // Audio and video start and end together (within 100 ms).
        assert!(
            (vfirst - afirst).abs() <= 0.1 && (vlast - alast).abs() <= 0.1,
            "{segment:?}: {p:?}"
        );
        // The event's duration is the file's.
        assert!(
            (p.duration - segment.duration as f64 / 1000.0).abs() <= 0.1,
            "{segment:?}: {p:?}"
        );
        if i < 2 {
            // Cut at the first keyframe (one a second) past 5 s.
            let seg = f64::from(segment_secs);
            assert!(
                (seg..=seg + 1.1).contains(&p.duration),
                "{segment:?}: {p:?}"
            );
        }
        total += p.duration;
    }
    assert!(
        (total - f64::from(secs)).abs() <= 1.0,
        "{total} s recorded of {secs} s published (in {published:.1} s)"
    );
    assert!(told.windows(2).all(|w| w[1].start >= w[0].start + 4_000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_urls_that_carry_a_signed_policy_are_recorded_and_the_policy_cannot_be_edited() {
    let dir = temp_dir("policy");
    let (events, _seen) = testing::event_receiver(0).await;
    let relay = recording_relay(&dir, &events, &[]).await;
    // A plain push URL: published, nothing recorded.
    let plain = testing::signed(PUSH_KEY, &relay.rtmp_base(), "8888_bob_0001", 3600);
    finished(testing::publish(
        &plain,
        TestPattern {
            audio: false,
            secs: 2,
        },
    ));
    // The policy taken off, swapped or added: refused outright.
    let recorded = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_bob_0002",
        &policy(RecordFormat::Mp4, "r", "bob"),
    );
    let stripped = recorded.split("&record=").next().unwrap().to_owned();
    let swapped = recorded.replace(
        &policy(RecordFormat::Mp4, "r", "bob").encode(),
        &policy(RecordFormat::Flv, "r", "bob").encode(),
    );
    let added = format!(
        "{plain}&record={}",
        policy(RecordFormat::Mp4, "r", "bob").encode()
    );
    for url in [stripped, swapped, added] {
        let out = testing::publish(
            &url,
            TestPattern {
                audio: false,
                secs: 1,
            },
        )
        .wait_with_output()
        .unwrap();
        assert!(!out.status.success(), "{url} was refused");
    }
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
    assert!(relay.metrics.auth_refused.get() >= 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_back_within_the_resume_window_continues_its_recording_and_later_starts_anew() {
    let dir = temp_dir("resume");
    let (events, seen) = testing::event_receiver(0).await;
    let relay = recording_relay(&dir, &events, &[("RTCROOM_RECORD_RESUME_SECS", "4")]).await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_carol_0001",
        &policy(RecordFormat::Flv, "r2", "carol"),
    );
    let pattern = TestPattern {
        audio: true,
        secs: 2,
    };
    finished(testing::publish(&url, pattern));
    until("the first segment", 10, || segments(&seen).len() == 1).await;
    finished(testing::publish(&url, pattern));
    until("the second segment", 10, || segments(&seen).len() == 2).await;
    // Past the window: a new recording.
    tokio::time::sleep(Duration::from_secs(5)).await;
    finished(testing::publish(&url, pattern));
    until("the third segment", 10, || segments(&seen).len() == 3).await;
    let told = segments(&seen);
    assert_eq!(told.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 0]);
    for segment in &told {
        assert_eq!(segment.format, "flv");
        let p = probe(&dir.join(&segment.path));
        p.assert_h264_aac(&segment.path);
        assert!((1.0..=2.6).contains(&p.duration), "{segment:?}: {p:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_floor_no_recording_starts_and_the_stream_goes_on() {
    let dir = temp_dir("floor");
    let (events, _seen) = testing::event_receiver(0).await;
    let relay = recording_relay(
        &dir,
        &events,
        &[("RTCROOM_RECORD_MIN_FREE_MB", "1000000000")],
    )
    .await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_dan_0001",
        &policy(RecordFormat::Mp4, "r3", "dan"),
    );
    let publisher = testing::publish(
        &url,
        TestPattern {
            audio: false,
            secs: 3,
        },
    );
    relay.published("8888_dan_0001").await;
    let play = testing::signed(PUSH_KEY, &relay.rtmp_base(), "8888_dan_0001", 3600);
    let (_, frames) = tokio::task::spawn_blocking(move || testing::play(&play, 25))
        .await
        .unwrap();
    assert_eq!(frames, 25, "players are served");
    finished(publisher);
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
    assert!(relay.handle.relay.recorder.metrics.refused_disk.get() >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_the_room_service_never_confirmed_is_told_again_at_the_next_start() {
    let dir = temp_dir("unreported");
    // A room service that refuses everything: the segment stays marked.
    let (down, _) = testing::event_receiver(usize::MAX).await;
    let relay = recording_relay(&dir, &down, &[]).await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_fay_0001",
        &policy(RecordFormat::Mp4, "r5", "fay"),
    );
    finished(testing::publish(
        &url,
        TestPattern {
            audio: true,
            secs: 2,
        },
    ));
    until("the closed segment, marked", 10, || {
        let f = files(&dir);
        f.iter().any(|f| f.ends_with(".mp4")) && f.iter().any(|f| f.ends_with(".mp4.unreported"))
    })
    .await;
    // The next start (the room service back) tells it, and the marker goes.
    let (up, seen) = testing::event_receiver(0).await;
    let _restarted = recording_relay(&dir, &up, &[]).await;
    until("the segment told again", 10, || segments(&seen).len() == 1).await;
    let segment = segments(&seen).remove(0);
    assert_eq!((segment.user_id.as_str(), segment.index), ("fay", 0));
    assert!((1_500..=2_600).contains(&segment.duration), "{segment:?}");
    until("the marker gone", 5, || {
        files(&dir).iter().all(|f| !f.ends_with(".unreported"))
    })
    .await;
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relay killed with SIGKILL at a random moment of a publish: after a restart its segment
/// reads, and at most 1 s of what was published before the kill is missing. Runs
/// `RTCROOM_TEST_CRASH_RUNS` times (default 3) over a publish of `RTCROOM_TEST_CRASH_SECS`
/// (default 12 s; the acceptance run is 10 x 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_publish_loses_at_most_a_second_of_it() {
    let runs: u32 = std::env::var("RTCROOM_TEST_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let secs: u32 = std::env::var("RTCROOM_TEST_CRASH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let (events, seen) = testing::event_receiver(0).await;
    for run in 0..runs {
        let dir = temp_dir(&format!("crash{run}"));
        seen.lock().clear();
        let (mut relay, base, http) = relay_process(&dir, &events, &[]);
        let stream = format!("8888_erin_{run:04}");
        let url = testing::signed_recorded(
            PUSH_KEY,
            &base,
            &stream,
            &policy(RecordFormat::Mp4, "r4", "erin"),
        );
        let mut publisher = testing::publish(&url, TestPattern { audio: true, secs });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let played = newest_timestamp_played(&http, &stream);
        // Some time into the publish, not in its first or last two seconds.
        let wait_ms =
            500 + rand::random::<u64>() % (u64::from(secs).saturating_sub(4).max(1) * 1000);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        relay.kill().unwrap();
        let had = played.load(Ordering::Relaxed) as f64 / 1000.0;
        let killed_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        relay.wait().unwrap();
        let _ = publisher.kill();
        let _ = publisher.wait();
        let left = files(&dir);
        assert!(
            left.len() == 1 && left[0].ends_with(".mp4.part"),
            "run {run}: {left:?}"
        );
        let (mut restarted, _, _) = relay_process(&dir, &events, &[]);
        until("the crashed segment told", 15, || {
            segments(&seen).len() == 1
        })
        .await;
        let _ = restarted.kill();
        let _ = restarted.wait();
        let segment = segments(&seen).remove(0);
        let file = dir.join(&segment.path);
        assert!(file.exists(), "run {run}: {:?}", files(&dir));
        let p = probe(&file);
        p.assert_h264_aac(&format!("run {run}"));
        // What the relay had received is what a player of it had been sent (the publisher's
        // clock, which starts at 0 in this segment); wall time since the segment began says
        // the same unless the publisher fell behind real time.
        let wall = killed_at.saturating_sub(segment.start) as f64 / 1000.0;
        let missing = had - p.duration;
        println!(
            "run {run}: killed {wall:.2} s into the segment with {had:.2} s of media received, \
             {:.2} s kept, {missing:.2} s missing",
            p.duration
        );
        assert!(had > 1.0, "run {run}: the player read only {had:.2} s");
        assert!(
            missing <= 1.0,
            "run {run}: {missing:.2} s missing ({segment:?}, {p:?})"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An SRT publish (the room service's recorded SRT address: the policy in the stream id) is
/// recorded like an RTMP one; the same stream id with its policy taken off is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srt_publish_is_recorded_and_its_policy_cannot_be_taken_off() {
    let dir = temp_dir("srt");
    let (events, seen) = testing::event_receiver(0).await;
    let relay = recording_relay(&dir, &events, &[]).await;
    let srt = relay.srt.expect("SRT listens (libsrt installed)");
    let stream = "8888_kim_0001";
    let url = testing::signed_srt_recorded(
        PUSH_KEY,
        srt,
        stream,
        &policy(RecordFormat::Mp4, "r6", "kim"),
    );
    let stripped = url.replacen(",record=", ",other=", 1);
    let refused = testing::publish(
        &stripped,
        TestPattern {
            audio: true,
            secs: 2,
        },
    )
    .wait_with_output()
    .unwrap();
    assert!(
        !refused.status.success(),
        "a stream id without its policy is refused"
    );
    finished(testing::publish(
        &url,
        TestPattern {
            audio: true,
            secs: 4,
        },
    ));
    until("the SRT segment told", 15, || segments(&seen).len() == 1).await;
    let segment = segments(&seen).remove(0);
    assert_eq!(
        (segment.user_id.as_str(), segment.room_id.as_str()),
        ("kim", "r6")
    );
    let p = probe(&dir.join(&segment.path));
    p.assert_h264_aac(&segment.path);
    assert!((p.duration - 4.0).abs() < 1.0, "{p:?}");
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
}
