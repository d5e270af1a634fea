//! The conformance suite against our own local gateway, on both stores and in the fault states
//! the failure clauses need; the clause and code mapping; and the runner catching a server
//! that breaks a clause.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{HEARTBEAT_TIMEOUT_SECS, KEY, SDKAPPID, gateway, options, run, run_parallel};
use rtcroom_conformance::case::Fault;
use rtcroom_conformance::runner::Report;
use rtcroom_conformance::spec::{Spec, clauses};
use rtcroom_conformance::{all_cases, spec};
use rtcroom_shared::store::dynamo::testing;
use rtcroom_shared::store::{DynamoStore, EmbeddedStore};

fn assert_all_passed(what: &str, report: &Report) {
    assert!(report.passed() > 0, "{what}: nothing ran");
    assert_eq!(
        report.failures(),
        Vec::<&str>::new(),
        "{what}: failed cases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_case_passes_on_the_embedded_store_and_every_documented_code_is_asserted() {
    let healthy = gateway(&[], Arc::new(EmbeddedStore::new())).await;
    let dev_off = gateway(&[("RTCROOM_DEV_MODE", "0")], Arc::new(EmbeddedStore::new())).await;

    // Store down: DynamoDB at a port where nothing listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = DynamoStore::new(testing::client_for(&format!("http://{dead}")), "nowhere");
    let store_down = gateway(&[], Arc::new(unreachable)).await;

    // One room whose stored state is unreadable: a room item without its attributes.
    let table = testing::fresh_store().await;
    testing::client()
        .put_item()
        .table_name(table.table())
        .item(
            "pk",
            AttributeValue::S("ROOM#multi_room#broken-room".into()),
        )
        .item("sk", AttributeValue::S("META".into()))
        .send()
        .await
        .expect("plant the corrupt item");
    let corrupt = gateway(&[], Arc::new(table)).await;

    let (healthy, dev_off, store_down, corrupt) = tokio::join!(
        run(&healthy, options(None), None),
        run(&dev_off, options(None), Some("AUTH-9")),
        run(&store_down, options(Some(Fault::StoreDown)), Some("FAIL-1")),
        run(
            &corrupt,
            options(Some(Fault::CorruptRoom {
                room_type: "multi_room".into(),
                room_id: "broken-room".into(),
            })),
            Some("FAIL-2"),
        ),
    );
    assert_all_passed("embedded", &healthy);
    assert_eq!(
        healthy.skipped(),
        2,
        "only the two fault cases skip on a healthy server"
    );
    for (what, report) in [
        ("dev mode off", &dev_off),
        ("store down", &store_down),
        ("corrupt room", &corrupt),
    ] {
        assert_all_passed(what, report);
    }

    let mut asserted: BTreeSet<i64> = BTreeSet::new();
    for report in [&healthy, &dev_off, &store_down, &corrupt] {
        asserted.extend(&report.asserted_codes);
    }
    let documented = Spec::get().codes();
    assert!(documented.len() >= 13, "{documented:?}");
    let missing: Vec<_> = documented.difference(&asserted).collect();
    assert!(
        missing.is_empty(),
        "codes in openapi.yaml that no case asserted: {missing:?}"
    );
    let undocumented: Vec<_> = asserted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "codes asserted but not in openapi.yaml: {undocumented:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_case_passes_on_dynamodb() {
    // The test DynamoDB server serves one request at a time, each in 10-25 ms: under the
    // suite's load a call can wait seconds, so heartbeats and joins get more room than on the
    // embedded store, and fewer cases run at once (8 at a time queued calls past the 10 s
    // heartbeat timeout on a 2-core machine). The presence cases still finish before the
    // 32 s reclaim case does.
    let base = gateway(
        &[
            ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", "10"),
            ("RTCROOM_JOIN_WAIT_SECS", "10"),
            // 100 simultaneous joins queue for longer than 4 s on the one-at-a-time stand-in.
            ("RTCROOM_REQUEST_TIMEOUT_SECS", "60"),
        ],
        Arc::new(testing::fresh_store().await),
    )
    .await;
    let mut opts = options(None);
    opts.heartbeat_timeout = std::time::Duration::from_secs(10);
    opts.join_wait = std::time::Duration::from_secs(10);
    opts.concurrency = 100;
    // Rooms per user are bounded by the embedded store, whose memory is the process's; a
    // DynamoDB table is bounded by its capacity and bill instead (ARCHITECTURE.md).
    opts.rooms_per_user = None;
    let report = run_parallel(&base, opts, None, 4).await;
    assert_all_passed("dynamodb", &report);
}

/// SRT addresses are optional (URL-5): a server without them passes the SRT cases, and one
/// signing with another key than the runner was told fails the signature case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_srt_cases_pass_a_server_without_srt_and_catch_a_wrong_key() {
    let without = gateway(
        &[("RTCROOM_SRT_HOST", "off")],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let report = run(&without, options(None), Some("srt.")).await;
    assert_all_passed("SRT off", &report);
    assert_eq!(report.passed(), 2);

    let other_key = gateway(
        &[("RTCROOM_PLAY_KEY", "not-the-runners-play-key")],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let report = run(&other_key, options(None), Some("srt.")).await;
    assert_eq!(report.failures(), vec!["srt.passphrases_and_signatures"]);
    assert_eq!(report.passed(), 1, "the shapes hold whatever the key");
}

/// Recording is optional: a server that records a room type passes the recording cases with
/// its policies checked, and one that signs them with another key fails the policy case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_cases_check_a_recording_server_and_catch_a_wrong_key() {
    let recording = gateway(
        &[
            // Each mode once: always, on request, never.
            ("RTCROOM_DOUBLE_ROOM_RECORD", "on"),
            ("RTCROOM_MULTI_ROOM_RECORD", "on-request-flv"),
        ],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let report = run(&recording, options(None), Some("recording.")).await;
    assert_all_passed("recording on", &report);
    assert_eq!(report.passed(), 1);
    let other_key = gateway(
        &[
            ("RTCROOM_DOUBLE_ROOM_RECORD", "on"),
            ("RTCROOM_PUSH_KEY", "not-the-runners-push-key"),
        ],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let report = run(&other_key, options(None), Some("recording.")).await;
    assert_eq!(report.failures(), vec!["recording.policy_in_push_urls"]);
}

#[test]
fn every_clause_is_cited_by_a_case_and_every_citation_names_a_clause() {
    let defined = clauses();
    assert!(defined.len() >= 50, "{} clauses", defined.len());
    let mut cited: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in all_cases() {
        assert!(!case.clauses.is_empty(), "{} cites nothing", case.id);
        for clause in case.clauses {
            cited.entry(clause).or_default().push(case.id);
        }
    }
    let uncited: Vec<_> = defined
        .iter()
        .filter(|(id, _)| !cited.contains_key(id.as_str()))
        .map(|(id, doc)| format!("{id} ({doc})"))
        .collect();
    assert!(uncited.is_empty(), "clauses no case cites: {uncited:?}");
    let dangling: Vec<_> = cited
        .iter()
        .filter(|(id, _)| !defined.contains_key(**id))
        .collect();
    assert!(dangling.is_empty(), "citations of no clause: {dangling:?}");
}

#[test]
fn case_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for case in all_cases() {
        assert!(seen.insert(case.id), "{} twice", case.id);
    }
}

#[test]
fn the_authenticated_apis_come_from_the_documents_security() {
    let apis = Spec::get().authenticated_apis();
    let names: BTreeSet<&str> = apis.iter().map(|(_, api)| api.as_str()).collect();
    for api in [
        "send_room_msg",
        "get_room_events",
        "get_pushers",
        "merge_stream",
    ] {
        assert!(names.contains(api), "{api} needs a session");
    }
    for api in ["login", "logout", "get_login_info", "get_im_login_info"] {
        assert!(!names.contains(api), "{api} can be called without a token");
    }
    // 11 APIs under every room type, 6 live_room ones.
    assert_eq!(names.len(), 17);
    assert_eq!(apis.len(), 11 * 3 + 6);
    assert!(apis.contains(&("live_room", "merge_stream".to_owned())));
    assert!(!apis.contains(&("multi_room", "merge_stream".to_owned())));
}

#[test]
fn every_operation_has_a_response_schema_the_runner_can_validate_with() {
    let spec = Spec::get();
    let paths = spec.document["paths"].as_object().unwrap();
    // 21 APIs, and login once more without a room type (AUTH-1).
    assert_eq!(paths.len(), 22);
    for path in paths.keys() {
        let api = path.rsplit('/').next().unwrap();
        let schema = Spec::response_schema_name(api);
        assert!(
            spec.document["components"]["schemas"][&schema].is_object(),
            "{path}: no {schema}"
        );
        // A nonsense answer is refused by every operation's schema.
        assert!(
            spec.validate(api, &serde_json::json!({"code": 424242, "message": "?"}))
                .is_err(),
            "{path}"
        );
    }
    assert!(spec::OPENAPI_YAML.starts_with("openapi: 3.1"));
}

/// Acceptance: pointed at a server that breaks one clause (a multi_room of 5 seats), the CLI
/// fails exactly the cases checking that clause and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_the_wrong_capacity_fails_the_capacity_cases_and_the_cli_exits_1() {
    let base = gateway(
        &[("RTCROOM_MULTI_ROOM_MAX_MEMBERS", "5")],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rtcroom-conformance"))
            .args(["--base-url", &base, "--sdkappid", &SDKAPPID.to_string()])
            .args(["--key", KEY, "--report", "json"])
            .args(["--heartbeat-timeout", &HEARTBEAT_TIMEOUT_SECS.to_string()])
            .output()
            .expect("the CLI runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert_eq!(output.status.code(), Some(1), "exit status");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let failed: BTreeSet<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "fail")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([
            "add_pusher.capacity_multi_room",
            "add_pusher.concurrent_joins_multi_room"
        ])
    );
    assert!(report["passed"].as_u64().unwrap() > 50);
    assert!(stderr.contains("FAIL  add_pusher.capacity_multi_room"));
    assert!(
        stderr.contains("expected ROOM-7"),
        "the failure names the clause"
    );
    assert!(stderr.lines().last().unwrap().contains("2 failed"));
}

#[test]
fn the_asyncapi_document_lists_every_event_type_the_server_sends() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/asyncapi.yaml");
    let doc: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let messages = doc["components"]["messages"].as_object().unwrap();
    let mut events: Vec<&str> = messages
        .iter()
        .filter(|(_, m)| m["payload"]["allOf"][0]["$ref"] == "#/components/schemas/Event")
        .map(|(name, m)| {
            assert_eq!(
                m["payload"]["allOf"][1]["properties"]["type"]["const"],
                name.as_str(),
                "{name}: its type is its name"
            );
            name.as_str()
        })
        .collect();
    events.sort_unstable();
    let mut sent: Vec<&str> = rtcroom_shared::room_events::wire_types().collect();
    sent.sort_unstable();
    assert_eq!(events, sent);
    // Every message of a channel is received or sent by an operation, and every message is
    // on a channel.
    let in_channels: usize = doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["messages"].as_object().unwrap().len())
        .sum();
    let in_operations: usize = doc["operations"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(in_channels, in_operations);
    assert_eq!(in_channels, messages.len());
}
