//! The desk rules: each rule on its own, then random operation sequences checked against the
//! invariants the issue states (one call per agent, each caller once, first come first
//! served, the longest-idle agent first).

use proptest::prelude::*;

use super::*;

const LIMITS: DeskLimits = DeskLimits {
    max_queue: 3,
    caller_timeout_ms: 10_000,
};
const AGENT_TTL: u64 = 20_000;

fn group_with(agents: &[(&str, u64)]) -> DeskGroup {
    let mut g = DeskGroup::default();
    for (agent, at) in agents {
        g.open(agent, at + AGENT_TTL, *at, &LIMITS);
    }
    g
}

#[test]
fn a_caller_gets_the_longest_idle_desk_or_waits_first_come_first_served() {
    let mut g = group_with(&[("b", 0), ("a", 5), ("c", 5)]);
    // b has been idle longest; a and c since the same moment: the smaller id.
    assert_eq!(
        g.request("x", 10, &LIMITS),
        RequestOutcome::Assigned { agent: "b".into() }
    );
    assert_eq!(
        g.request("y", 11, &LIMITS),
        RequestOutcome::Assigned { agent: "a".into() }
    );
    assert_eq!(
        g.request("z", 12, &LIMITS),
        RequestOutcome::Assigned { agent: "c".into() }
    );
    assert_eq!(
        g.request("w1", 13, &LIMITS),
        RequestOutcome::Queued {
            position: 1,
            length: 1
        }
    );
    assert_eq!(
        g.request("w2", 14, &LIMITS),
        RequestOutcome::Queued {
            position: 2,
            length: 2
        }
    );
    // Asking again is the same answer.
    assert_eq!(
        g.request("w1", 15, &LIMITS),
        RequestOutcome::Queued {
            position: 1,
            length: 2
        }
    );
    assert_eq!(
        g.request("x", 15, &LIMITS),
        RequestOutcome::Assigned { agent: "b".into() }
    );
    g.request("w3", 16, &LIMITS);
    assert_eq!(g.request("w4", 17, &LIMITS), RequestOutcome::QueueFull);
    // Ending a call gives that desk to the first waiting caller in the same operation, and
    // the others hear their new places.
    g.events.clear();
    assert!(g.end_call("y", 20, &LIMITS));
    assert_eq!(g.agent_of("w1").as_deref(), Some("a"));
    assert_eq!(
        g.events,
        [
            DeskEvent::CallEnded {
                caller: "y".into(),
                agent: "a".into(),
                reason: EndReason::Ended
            },
            DeskEvent::Assigned {
                caller: "w1".into(),
                agent: "a".into()
            },
            DeskEvent::Position {
                caller: "w2".into(),
                position: 1,
                length: 2
            },
            DeskEvent::Position {
                caller: "w3".into(),
                position: 2,
                length: 2
            },
        ]
    );
    // Only someone in a call ends one.
    assert!(!g.end_call("w2", 21, &LIMITS));
    assert!(!g.end_call("nobody", 21, &LIMITS));
}

#[test]
fn an_agent_closing_in_a_call_closes_when_it_ends_and_takes_no_caller() {
    let mut g = group_with(&[("a", 0)]);
    g.request("x", 1, &LIMITS);
    g.request("y", 2, &LIMITS);
    assert_eq!(g.close("a", 3, &LIMITS), Some(DeskState::Busy));
    assert!(g.end_call("a", 4, &LIMITS));
    assert_eq!(g.desks["a"].state, DeskState::Closed);
    assert_eq!(g.position_of("y"), Some(1), "y still waits");
    // Reopened: it takes y at once.
    assert_eq!(g.open("a", 5 + AGENT_TTL, 5, &LIMITS), DeskState::Busy);
    assert_eq!(g.agent_of("y").as_deref(), Some("a"));
    assert_eq!(g.close("nobody", 6, &LIMITS), None);
}

#[test]
fn a_vanished_agents_caller_waits_again_first_and_a_vanished_caller_leaves() {
    let mut g = group_with(&[("a", 0), ("b", 0)]);
    g.request("x", 1, &LIMITS);
    g.request("y", 2, &LIMITS);
    g.request("w", 3, &LIMITS);
    g.request("v", 4, &LIMITS);
    // b keeps heartbeating, a does not.
    assert!(g.agent_heartbeat("b", 30_000, 10_000, &LIMITS));
    g.events.clear();
    g.request("v", 15_000, &LIMITS); // v keeps asking; w does not
    g.settle(AGENT_TTL, &LIMITS);
    assert_eq!(g.desks["a"].state, DeskState::Closed);
    assert!(!g.agent_heartbeat("a", AGENT_TTL + 1_000, AGENT_TTL, &LIMITS));
    // x, a's caller, is first again; w (silent past its timeout) has left.
    assert_eq!(g.position_of("x"), Some(1));
    assert_eq!(g.position_of("w"), None);
    assert_eq!(g.position_of("v"), Some(2));
    assert!(g.events.contains(&DeskEvent::CallEnded {
        caller: "x".into(),
        agent: "a".into(),
        reason: EndReason::AgentGone
    }));
    assert!(
        g.events
            .contains(&DeskEvent::DeskClosed { agent: "a".into() })
    );
    assert!(
        g.events
            .contains(&DeskEvent::LeftQueue { caller: "w".into() })
    );
    // When b's call ends, x is served before v.
    g.end_call("y", AGENT_TTL + 1, &LIMITS);
    assert_eq!(g.agent_of("x").as_deref(), Some("b"));
    assert!(g.cancel("v", AGENT_TTL + 2, &LIMITS));
    assert!(!g.cancel("v", AGENT_TTL + 3, &LIMITS));
}

#[test]
fn a_supervisor_sees_each_desk_since_when_and_the_longest_wait() {
    let mut g = group_with(&[("a", 0), ("b", 10)]);
    g.request("x", 20, &LIMITS);
    g.request("y", 30, &LIMITS);
    g.request("z", 40, &LIMITS);
    g.close("b", 50, &LIMITS);
    let view = g.view(1_040, &LIMITS);
    assert_eq!(
        view.desks,
        [
            ("a".to_owned(), DeskState::Busy, 20),
            ("b".to_owned(), DeskState::Busy, 30)
        ]
    );
    assert_eq!((view.queue_length, view.longest_wait_ms), (1, 1_000));
    // a vanished (x waits again, its wait counted from its first ask), z gave up waiting.
    let later = g.view(AGENT_TTL + 5, &LIMITS);
    assert_eq!(later.desks[0].1, DeskState::Closed);
    assert_eq!(later.queue_length, 1, "{later:?}");
    assert_eq!(later.longest_wait_ms, AGENT_TTL + 5 - 20);
}

/// One step of a random run.
#[derive(Debug, Clone)]
enum Op {
    Open(u8),
    Close(u8),
    AgentBeat(u8),
    Request(u8),
    CallerBeat(u8),
    Cancel(u8),
    End(u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8).prop_map(Op::Open),
        (0..4u8).prop_map(Op::Close),
        (0..4u8).prop_map(Op::AgentBeat),
        (0..12u8).prop_map(Op::Request),
        (0..12u8).prop_map(Op::CallerBeat),
        (0..12u8).prop_map(Op::Cancel),
        (0..16u8).prop_map(Op::End),
        (0..15_000u16).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// After every operation: no caller twice (queued and in a call, or in two calls), a
    /// BUSY desk has exactly one caller and others none, no IDLE desk while anyone waits,
    /// the queue within its bound; every assignment went to the longest-idle desk, and the
    /// callers were served in the order they first asked (callers put back after their
    /// agent vanished go first).
    #[test]
    fn random_runs_keep_the_desk_rules(ops in proptest::collection::vec(op(), 1..120)) {
        let mut g = DeskGroup::default();
        let mut now = 1_000u64;
        let agent = |i: u8| format!("agent{i}");
        let caller = |i: u8| format!("caller{i}");
        for op in ops {
            now += 1;
            let idle_before: Vec<(u64, String)> = g
                .desks
                .iter()
                .filter(|(_, d)| d.state == DeskState::Idle)
                .map(|(a, d)| (d.since_ms, a.clone()))
                .collect();
            let queue_before: Vec<String> = g.queue.iter().map(|w| w.caller.clone()).collect();
            let mut calls_before: Vec<(u64, String)> = g
                .desks
                .values()
                .filter_map(|d| Some((d.caller_arrived_ms, d.caller.clone()?)))
                .collect();
            calls_before.sort();
            g.events.clear();
            match op {
                Op::Open(i) => { g.open(&agent(i), now + AGENT_TTL, now, &LIMITS); }
                Op::Close(i) => { g.close(&agent(i), now, &LIMITS); }
                Op::AgentBeat(i) => { g.agent_heartbeat(&agent(i), now + AGENT_TTL, now, &LIMITS); }
                Op::Request(i) | Op::CallerBeat(i) => { g.request(&caller(i), now, &LIMITS); }
                Op::Cancel(i) => { g.cancel(&caller(i), now, &LIMITS); }
                Op::End(i) if i < 4 => { g.end_call(&agent(i), now, &LIMITS); }
                Op::End(i) => { g.end_call(&caller(i - 4), now, &LIMITS); }
                Op::Wait(ms) => { now += u64::from(ms); g.settle(now, &LIMITS); }
            }
            // Invariants of the state.
            let mut seen = std::collections::BTreeSet::new();
            for w in &g.queue {
                prop_assert!(seen.insert(w.caller.clone()), "{} twice", w.caller);
            }
            for (a, d) in &g.desks {
                prop_assert_eq!(d.state == DeskState::Busy, d.caller.is_some(), "{}", a);
                if let Some(c) = &d.caller {
                    prop_assert!(seen.insert(c.clone()), "{} twice", c);
                }
            }
            // New callers are refused at the bound; callers put back after their agent
            // vanished (at most one per desk) are never dropped.
            prop_assert!(g.queue.len() <= LIMITS.max_queue + g.desks.len());
            let idle = g.desks.values().any(|d| d.state == DeskState::Idle);
            prop_assert!(!idle || g.queue.is_empty(), "an idle desk while callers wait");
            // The operation's assignments: in queue order (callers who were waiting before
            // it, in their order, then at most the newcomer) and to the longest-idle desks.
            let assigned: Vec<(String, String)> = g
                .events
                .iter()
                .filter_map(|e| match e {
                    DeskEvent::Assigned { caller, agent } => Some((caller.clone(), agent.clone())),
                    _ => None,
                })
                .collect();
            // Callers put back, in the order they first asked.
            let put_back: Vec<String> = calls_before
                .iter()
                .map(|(_, c)| c.clone())
                .filter(|c| g.events.contains(&DeskEvent::CallEnded {
                    caller: c.clone(),
                    agent: g.events.iter().find_map(|e| match e {
                        DeskEvent::CallEnded { caller, agent, .. } if caller == c => Some(agent.clone()),
                        _ => None,
                    }).unwrap_or_default(),
                    reason: EndReason::AgentGone,
                }))
                .collect();
            // Those waiting before it (put back first), less those who left meanwhile: the
            // operation serves a prefix of them, in order, then at most its newcomer.
            let stayed = |c: &String| {
                assigned.iter().any(|(a, _)| a == c) || g.queue.iter().any(|w| &w.caller == c)
            };
            let order: Vec<&String> = put_back
                .iter()
                .chain(queue_before.iter().filter(|c| !put_back.contains(c)))
                .filter(|c| stayed(c))
                .collect();
            for (k, (c, _)) in assigned.iter().enumerate() {
                match order.get(k) {
                    Some(first) => prop_assert_eq!(*first, c, "served out of turn"),
                    None => prop_assert!(!order.contains(&c), "{} served out of turn", c),
                }
            }
            // A desk given a caller was the longest idle: no desk idle longer is idle still.
            for (_, a) in &assigned {
                if let Some((since, _)) = idle_before.iter().find(|(_, x)| x == a) {
                    for (other, d) in &g.desks {
                        if d.state == DeskState::Idle && d.since_ms < now {
                            prop_assert!(
                                (d.since_ms, other) >= (*since, a),
                                "{} got a caller while {} was idle longer", a, other
                            );
                        }
                    }
                }
            }
        }
    }
}
