//! `template.yaml` and the code agree: one template function per function of the code (the
//! endpoint registry and `lambda::Function`), each endpoint routed at its path and method, the
//! sweeper scheduled, secrets never given defaults, and every function on the one table.

use std::collections::BTreeSet;

use rtcroom_functions::api::Scope;
use rtcroom_functions::endpoints::{Endpoint, route};
use rtcroom_functions::lambda::Function;
use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What a template function runs: its `RTCROOM_FUNCTION`.
fn runs(function: &Value) -> &str {
    function["Properties"]["Environment"]["Variables"]["RTCROOM_FUNCTION"]
        .as_str()
        .expect("every function says what it runs in RTCROOM_FUNCTION")
}

fn functions(template: &Value) -> Vec<(&str, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

#[test]
fn every_function_of_the_code_is_deployed_once_from_the_one_lambda_binary() {
    let template = template();
    let deployed: Vec<&str> = functions(&template)
        .iter()
        .map(|(name, f)| {
            assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
            // One binary: SAM builds it once for every function with the same metadata.
            assert_eq!(
                f["Metadata"]["BuildProperties"]["Binary"], "rtcroom-lambda",
                "{name}"
            );
            runs(f)
        })
        .collect();
    let unique: BTreeSet<&str> = deployed.iter().copied().collect();
    assert_eq!(deployed.len(), unique.len(), "a function deployed twice");
    let code: BTreeSet<&str> = Function::all().map(Function::name).collect();
    assert_eq!(unique, code);
}

#[test]
fn every_endpoint_function_is_routed_at_its_own_path() {
    let template = template();
    let mut routed = BTreeSet::new();
    for (name, function) in functions(&template) {
        let binary = runs(function);
        if binary == "relay_event" {
            let api = &function["Properties"]["Events"]["Api"]["Properties"];
            assert_eq!(api["Path"], rtcroom_functions::stream_events::PATH);
            assert_eq!(api["Method"], "POST");
            assert!(
                format!("{:?}", function["Properties"]["Environment"])
                    .contains("RelayEventsSecret"),
                "the relay_event function alone gets the relays' secret"
            );
            continue;
        }
        if let Some(route_key) = websocket_route(binary) {
            assert_routed_on_the_websocket_api(&template, name, route_key);
            continue;
        }
        if binary == "notifier" {
            let source = &function["Properties"]["Events"]["RoomEvents"];
            assert_eq!(source["Type"], "DynamoDB");
            assert!(format!("{:?}", source["Properties"]["Stream"]).contains("RoomTable"));
            assert!(
                format!("{:?}", source["Properties"]["FilterCriteria"]).contains("EVENTS#"),
                "the notifier reads room events only"
            );
            continue;
        }
        let Some(endpoint) = Endpoint::from_name(binary) else {
            assert_eq!(binary, "sweeper", "{name}");
            let schedule = &function["Properties"]["Events"]["EveryMinute"];
            assert_eq!(schedule["Type"], "Schedule");
            assert_eq!(schedule["Properties"]["Schedule"], "rate(1 minute)");
            continue;
        };
        let events = function["Properties"]["Events"].as_mapping().unwrap();
        // login alone is also served without a room type (/weapp/utils/login, AUTH-1).
        let expected_routes = if endpoint == Endpoint::Login { 2 } else { 1 };
        assert_eq!(events.len(), expected_routes, "{name}'s routes");
        for event in events.values() {
            assert_eq!(event["Type"], "HttpApi", "{name}");
            let path = event["Properties"]["Path"].as_str().unwrap();
            let method = event["Properties"]["Method"].as_str().unwrap();
            // The route must lead to this endpoint for every room type it serves, and to no
            // other.
            let concrete: Vec<String> = if path.contains("{type}") {
                ["double_room", "multi_room", "live_room"]
                    .iter()
                    .map(|t| path.replace("{type}", t))
                    .collect()
            } else {
                vec![path.to_owned()]
            };
            for p in &concrete {
                let (scope, found) =
                    route(p).unwrap_or_else(|| panic!("{name}: {p} is not an API path"));
                assert_eq!(found, endpoint, "{name}: {p}");
                let get = scope == Scope::Utils && endpoint != Endpoint::Login;
                assert_eq!(method, if get { "GET" } else { "POST" }, "{name}");
            }
        }
        routed.insert(endpoint.name());
    }
    let all: BTreeSet<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(routed, all);
}

/// The WebSocket API route a `ws_*` binary serves.
fn websocket_route(binary: &str) -> Option<&'static str> {
    match binary {
        "ws_connect" => Some("$connect"),
        "ws_disconnect" => Some("$disconnect"),
        "ws_message" => Some("$default"),
        _ => None,
    }
}

/// `function` is the target of the WebSocket API's `route_key`, and API Gateway may invoke it.
fn assert_routed_on_the_websocket_api(template: &Value, function: &str, route_key: &str) {
    let resources = template["Resources"].as_mapping().unwrap();
    let of_type = |kind: &'static str| {
        resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
            .map(|(n, r)| (n.as_str().unwrap(), r))
    };
    let (_, route) = of_type("AWS::ApiGatewayV2::Route")
        .find(|(_, r)| r["Properties"]["RouteKey"] == route_key)
        .unwrap_or_else(|| panic!("no {route_key} route"));
    let target = format!("{:?}", route["Properties"]["Target"]);
    let (_, integration) = of_type("AWS::ApiGatewayV2::Integration")
        .find(|(n, _)| target.contains(&format!("${{{n}}}")))
        .unwrap_or_else(|| panic!("{route_key}: no integration in {target}"));
    assert!(
        format!("{:?}", integration["Properties"]["IntegrationUri"])
            .contains(&format!("${{{function}.Arn}}")),
        "{route_key} does not reach {function}"
    );
    assert!(
        of_type("AWS::Lambda::Permission").any(|(_, p)| {
            p["Properties"]["Principal"] == "apigateway.amazonaws.com"
                && format!("{:?}", p["Properties"]["FunctionName"]).contains(function)
        }),
        "API Gateway may not invoke {function}"
    );
}

#[test]
fn secrets_are_no_echo_without_defaults_and_functions_share_one_table() {
    let template = template();
    for secret in ["UserSigKey", "PushKey", "RelayEventsSecret"] {
        let parameter = &template["Parameters"][secret];
        assert_eq!(parameter["NoEcho"], true, "{secret}");
        assert!(parameter.get("Default").is_none(), "{secret} has a default");
    }
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(env["RTCROOM_STORE"], "dynamodb");
    assert!(
        format!("{:?}", env["RTCROOM_TABLE"]).contains("RoomTable"),
        "the table comes from the stack"
    );
    assert_eq!(
        template["Globals"]["Function"]["Runtime"],
        "provided.al2023"
    );
    assert_eq!(template["Globals"]["Function"]["Architectures"][0], "arm64");
    let table = &template["Resources"]["RoomTable"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

#[test]
fn functions_get_the_table_access_they_use_and_no_more() {
    let template = template();
    for (name, function) in functions(&template) {
        let binary = runs(function);
        let policies = format!("{:?}", function["Properties"].get("Policies"));
        let expected: &[&str] = match binary {
            "get_im_login_info" | "get_login_info" => &[],
            // A token's check reads its user's logout (one GetItem), login issues new tokens
            // after it, and logout records it.
            "logout" => &["dynamodb:UpdateItem", "USER#*"],
            "login" | "merge_stream" => &["dynamodb:GetItem", "USER#*"],
            // And, in a room type recorded on request, whether the roomID's room is.
            "get_push_url" => &["dynamodb:GetItem", "USER#*", "ROOM#*"],
            "pusher_heartbeat" => &["dynamodb:UpdateItem", "dynamodb:GetItem"],
            // Stream reports; and recording segments filed, and told to their rooms.
            "relay_event" => &[
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "RECORDINGS#*",
                "dynamodb:PutItem",
            ],
            "ws_connect" => &["dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem"],
            "ws_disconnect" => &["dynamodb:GetItem", "dynamodb:DeleteItem"],
            "ws_message" => &[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "execute-api:ManageConnections",
            ],
            "notifier" => &[
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "execute-api:ManageConnections",
                "dynamodb:GetRecords",
            ],
            "get_pushers" | "get_room_list" | "get_audiences" | "get_custom_info" => {
                &["dynamodb:Query", "dynamodb:GetItem"]
            }
            "get_room_events" | "get_recordings" => &["dynamodb:Query", "dynamodb:GetItem"],
            "sweeper" => &["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            _ => &[
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
            ],
        };
        if expected.is_empty() {
            assert!(
                function["Properties"].get("Policies").is_none(),
                "{name}: {policies}"
            );
        }
        for action in expected {
            assert!(policies.contains(action), "{name} lacks {action}");
        }
        assert!(
            !policies.contains("dynamodb:*") && !policies.contains("Scan"),
            "{name}: {policies}"
        );
    }
}

/// The recording bucket is encrypted, private, TLS-only and expires objects by the
/// `RecordingsExpireDays` parameter; the relay's policy grants what the relay's S3 calls need
/// (`record/s3.rs`: PutObject, and GetObject for presigned downloads) on that bucket only.
#[test]
fn the_recording_bucket_is_private_and_encrypted_and_the_relay_may_only_put_and_get() {
    let template = template();
    let resources = &template["Resources"];
    let bucket = &resources["RecordingBucket"];
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    let props = format!("{:?}", bucket["Properties"]);
    for needed in [
        "SSEAlgorithm",
        "BlockPublicAcls",
        "RestrictPublicBuckets",
        "BucketOwnerEnforced",
        "RecordingsExpireDays",
    ] {
        assert!(props.contains(needed), "the bucket lacks {needed}: {props}");
    }
    let tls = format!("{:?}", resources["RecordingBucketPolicy"]["Properties"]);
    assert!(tls.contains("aws:SecureTransport") && tls.contains("Deny"));
    let policy = &resources["RelayRecordingPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let mut actions: Vec<String> = policy
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    actions.sort();
    assert_eq!(actions, ["s3:GetObject", "s3:PutObject"]);
    assert!(format!("{policy:?}").contains("RecordingBucket.Arn}/*"));
    let outputs = format!("{:?}", template["Outputs"]);
    assert!(outputs.contains("RecordingBucketName") && outputs.contains("RelayRecordingPolicyArn"));
}
