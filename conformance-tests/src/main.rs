//! `rtcroom-conformance`: runs the conformance suite against any rtcroom-compatible server.
//!
//! ```text
//! rtcroom-conformance --base-url http://127.0.0.1:5757 --sdkappid 1400000000 --key KEY
//!     [--only PATTERN] [--report text|json|junit] [--heartbeat-timeout SECS] [--push-key K]
//! ```
//!
//! Exits 0 when every selected case passed, 1 when any failed, 2 on bad arguments.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use rtcroom_conformance::case::{Fault, Options, ROOM_TYPES};
use rtcroom_conformance::client::Target;
use rtcroom_conformance::{all_cases, report, runner};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

/// Checks a room service against spec/ (room-semantics.md, usersig.md, url-signing.md,
/// openapi.yaml) black-box, over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server, e.g. http://127.0.0.1:5757 (API Gateway stage URLs work too).
    #[arg(long)]
    base_url: String,
    /// The server's sdkAppID.
    #[arg(long)]
    sdkappid: u64,
    /// The server's UserSig key, to mint UserSigs for test users.
    #[arg(long, env = "RTCROOM_CONFORMANCE_KEY", hide_env_values = true)]
    key: String,
    /// The server's push key, to check txSecret signatures (URL-3); shapes only without it.
    #[arg(long, env = "RTCROOM_CONFORMANCE_PUSH_KEY", hide_env_values = true)]
    push_key: Option<String>,
    /// The server's play key, when its play URLs are signed apart from its push URLs (URL-3);
    /// the push key otherwise.
    #[arg(long, env = "RTCROOM_CONFORMANCE_PLAY_KEY", hide_env_values = true)]
    play_key: Option<String>,
    /// Run only cases whose id contains, or which cite a clause equal to, one of these
    /// comma-separated patterns (e.g. `ROOM-7,login`).
    #[arg(long)]
    only: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    report: Format,
    /// The server's heartbeat timeout (presence cases wait about this long).
    #[arg(long, default_value_t = 20)]
    heartbeat_timeout: u64,
    /// How long the server lets a session connection's join wait for the membership (EV-12).
    #[arg(long, default_value_t = 30)]
    join_wait: u64,
    /// Seats per room type, as `double,multi,live`.
    #[arg(long, default_value = "2,4,4")]
    capacity: String,
    /// Viewers per live_room.
    #[arg(long, default_value_t = 30)]
    audience_capacity: usize,
    /// Simultaneous joins in the concurrency cases.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Cases run at once (exclusive cases always run alone).
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// The server's limit of rooms per user (rtcroom: `RTCROOM_MAX_ROOMS_PER_USER`, 20 by
    /// default); the LIMIT-1 case runs only when it is given.
    #[arg(long)]
    rooms_per_user: Option<usize>,
    /// The server is in a fault state set up by the operator: `store-down` (its store is
    /// unreachable) or `corrupt-room=TYPE/ID` (that room's stored state is unreadable). Only
    /// the matching fault cases run.
    #[arg(long)]
    fault: Option<String>,
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    if s == "store-down" {
        return Ok(Fault::StoreDown);
    }
    let room = s
        .strip_prefix("corrupt-room=")
        .ok_or("--fault is store-down or corrupt-room=TYPE/ID")?;
    let (room_type, room_id) = room
        .split_once('/')
        .filter(|(t, id)| ROOM_TYPES.contains(t) && !id.is_empty())
        .ok_or("corrupt-room=TYPE/ID with TYPE double_room, multi_room or live_room")?;
    Ok(Fault::CorruptRoom {
        room_type: room_type.into(),
        room_id: room_id.into(),
    })
}

fn parse_capacity(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| "--capacity is three numbers: double,multi,live")?;
    parts
        .try_into()
        .map_err(|_| "--capacity is three numbers: double,multi,live".into())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let fail = |msg: String| -> ! {
        eprintln!("rtcroom-conformance: {msg}");
        std::process::exit(2)
    };
    let capacity = parse_capacity(&args.capacity).unwrap_or_else(|e| fail(e));
    let fault = args
        .fault
        .as_deref()
        .map(parse_fault)
        .transpose()
        .unwrap_or_else(|e| fail(e));
    if args.heartbeat_timeout == 0 {
        fail("--heartbeat-timeout must be at least 1".into());
    }
    let target = Target {
        base_url: args.base_url.clone(),
        sdkappid: args.sdkappid,
        key: args.key.clone(),
        push_key: args.push_key.clone(),
        play_key: args.play_key.clone(),
    };
    let options = Options {
        heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout),
        concurrency: args.concurrency.max(1),
        capacity,
        audience_capacity: args.audience_capacity,
        join_wait: Duration::from_secs(args.join_wait.max(1)),
        rooms_per_user: args.rooms_per_user,
        fault,
        ..Options::default()
    };
    let text = matches!(args.report, Format::Text);
    let report = runner::run(
        target,
        options,
        all_cases(),
        args.only.as_deref(),
        args.parallel,
        |result| {
            // Case lines go to stdout for the text report, to stderr beside a document.
            let line = report::text_line(result);
            if text {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        },
    )
    .await;
    match args.report {
        Format::Text => {}
        Format::Json => println!("{}", report::json(&report)),
        Format::Junit => println!("{}", report::junit(&report)),
    }
    let summary = report::summary(&report);
    if text {
        println!("{summary}");
    } else {
        eprintln!("{summary}");
    }
    if report.results.is_empty() {
        fail(format!(
            "--only {} selects no case",
            args.only.unwrap_or_default()
        ));
    }
    std::process::exit(if report.failed() == 0 { 0 } else { 1 });
}
