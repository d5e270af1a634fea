//! Recording to S3, against moto's S3 on loopback (the test command's AWS stand-in): closed
//! segments are uploaded, their local copy removed only once S3 has them; failed uploads are
//! retried and never lose the file; an uploaded segment whose event the room service never
//! confirmed is told again after a restart, with where it is kept; its download URL redirects
//! to a presigned S3 URL that plays; an SRT publish's segments go the same way.

mod record_common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use record_common::*;
use rtcroom_shared::urls::{UrlSigner, record::download_secret, tx_time};

const BUCKET: &str = "rtcroom-recordings-test";

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `GET url` with curl, following redirects: (status of the last answer, body, the URL it
/// ended at).
fn fetch(url: &str, to: &Path) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sL", "-o"])
        .arg(to)
        .args(["-w", "%{http_code} %{url_effective}"])
        .arg(url)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, at) = text.split_once(' ').unwrap_or((&text, ""));
    (code.to_owned(), at.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_go_to_s3_only_once_it_has_them_and_download_from_there() {
    let endpoint = rtcroom_shared::testing::moto_endpoint();
    let s3 = s3_client(&endpoint);
    let bucket = format!("{BUCKET}-{}", std::process::id());
    let dir = temp_dir("s3");
    let aws = [
        ("RTCROOM_RECORD_S3_BUCKET", bucket.as_str()),
        ("RTCROOM_RECORD_S3_ENDPOINT", endpoint.as_str()),
        ("RTCROOM_RECORD_S3_PREFIX", "calls/"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("RTCROOM_PLAY_KEY", "the-play-key"),
    ];
    // The room service is unreachable at first (nothing listens on the discard port), and
    // the bucket does not exist yet: uploads fail until it does.
    let (mut relay, base, http) = relay_process(&dir, "http://127.0.0.1:9/events", &aws);
    let stream = "8888_gus_0001";
    let url = testing::signed_recorded(
        PUSH_KEY,
        &base,
        stream,
        &policy(RecordFormat::Mp4, "r9", "gus"),
    );
    let publisher = testing::publish(
        &url,
        TestPattern {
            audio: true,
            secs: 3,
        },
    );
    finished(publisher);
    let closed = |f: &String| f.ends_with(".mp4");
    until("the segment closed", 15, || files(&dir).iter().any(closed)).await;
    until("an upload refused", 10, || {
        metric(&http, "upload_failures_total") > 0
    })
    .await;
    let segment = files(&dir).into_iter().find(closed).unwrap();
    assert!(
        files(&dir).contains(&format!("{segment}.unreported")),
        "{:?}",
        files(&dir)
    );
    assert_eq!(metric(&http, "uploads_pending"), 1);
    // The bucket appears: the next attempt (back-off 1, 2, 4 ... s) uploads, and only then
    // does the local copy go; the marker keeps the report for the room service.
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    until("uploaded, the local copy gone", 20, || {
        !files(&dir).contains(&segment)
    })
    .await;
    assert_eq!(metric(&http, "uploads_total"), 1);
    let key = format!("calls/{segment}");
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("the segment is in the bucket");
    assert_eq!(object.content_type(), Some("video/mp4"));
    let uploaded = object.body.collect().await.unwrap().into_bytes();
    let marker = dir.join(format!("{segment}.unreported"));
    let told: SegmentReport = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(
        told.stored.as_deref(),
        Some(format!("s3://{bucket}/{key}").as_str())
    );
    assert_eq!(told.bytes, uploaded.len() as u64);
    relay.kill().unwrap();
    relay.wait().unwrap();

    // Restarted with the room service reachable: the uploaded segment is told, with where it
    // is kept, and its marker goes.
    let (events, seen) = testing::event_receiver(0).await;
    let with_srt = [
        aws.as_slice(),
        &[("RTCROOM_RELAY_SRT_LISTEN", "127.0.0.1:0")],
    ]
    .concat();
    let (mut relay, _, http) = relay_process(&dir, &events, &with_srt);
    until("the uploaded segment told", 15, || {
        segments(&seen).len() == 1
    })
    .await;
    let report = segments(&seen).remove(0);
    assert_eq!(report, told);
    until("the marker gone", 5, || files(&dir).is_empty()).await;

    // Its download URL (as get_recordings signs it) redirects to a presigned URL that plays.
    let flv_base = format!("http://{http}");
    let signer = UrlSigner {
        push_key: PUSH_KEY.into(),
        play_key: "the-play-key".into(),
        bizid: "8888".into(),
        push_host: String::new(),
        play_host: String::new(),
        flv_base: flv_base.clone(),
        srt_host: None,
        ttl_secs: 600,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let download = signer.recording_url(&report.path, now);
    let file = dir.join("download.mp4");
    let (code, at) = fetch(&download, &file);
    assert_eq!(code, "200", "{download} ended at {at}");
    assert!(
        at.starts_with(&endpoint) && at.contains("X-Amz-Signature="),
        "{at}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), uploaded.to_vec());
    let p = probe(&file);
    p.assert_h264_aac(&file.display().to_string());
    assert!((p.duration - 3.0).abs() < 1.0, "{p:?}");
    // A wrong signature is refused before anything is presigned.
    let time = tx_time(now + 60);
    let forged = format!(
        "{flv_base}/record/{}?txSecret={}&txTime={time}",
        report.path.replace('%', "%25"),
        download_secret("another-key", &report.path, &time)
    );
    let (code, _) = fetch(&forged, &dir.join("refused"));
    assert_eq!(code, "403");

    // An SRT publish (an SRT session's thread starts its recording) is uploaded and told too.
    let srt = relay.srt.expect("SRT listens (libsrt installed)");
    let stream = "8888_gus_0002";
    let url = testing::signed_srt_recorded(
        PUSH_KEY,
        srt,
        stream,
        &policy(RecordFormat::Mp4, "r9", "gus"),
    );
    finished(testing::publish(
        &url,
        TestPattern {
            audio: true,
            secs: 3,
        },
    ));
    until("the SRT segment uploaded and told", 20, || {
        segments(&seen).len() == 2
    })
    .await;
    let report = segments(&seen).remove(1);
    assert!(report.path.contains("gus_8888_gus_0002_"), "{report:?}");
    let stored = report.stored.clone().expect("uploaded before it was told");
    let key = stored
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap()
        .to_owned();
    let object = s3.head_object().bucket(&bucket).key(&key).send().await;
    assert_eq!(object.unwrap().content_length(), Some(report.bytes as i64));
    until("no segment left on disk", 5, || {
        files(&dir).iter().all(|f| !f.starts_with("double_room/"))
    })
    .await;
    let _ = relay.kill();
    let _ = relay.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
