//! Runs the selected cases against a server: the independent ones a few at a time, then the
//! exclusive ones alone. A case that panics counts as failed, not as the end of the run.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::case::{Case, Ctx, Fault, Needs, Options};
use crate::client::{Failure, Server, Target};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(Failure),
    Skip(String),
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: &'static str,
    pub clauses: &'static [&'static str],
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub results: Vec<CaseResult>,
    /// Protocol codes some case expected and received.
    pub asserted_codes: BTreeSet<i64>,
    pub duration: Duration,
}

impl Report {
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
    pub fn passed(&self) -> usize {
        self.count(|o| *o == Outcome::Pass)
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail(_)))
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skip(_)))
    }
    /// IDs of the failed cases.
    pub fn failures(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .map(|r| r.id)
            .collect()
    }
}

/// Which cases `--only` selects: a comma-separated list of patterns, each matching a case
/// whose id contains it or which cites a clause equal to it (case-insensitively).
pub fn selected(case: &Case, only: Option<&str>) -> bool {
    let Some(only) = only else { return true };
    only.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| {
            let p = p.to_ascii_lowercase();
            case.id.to_ascii_lowercase().contains(&p)
                || case.clauses.iter().any(|c| c.to_ascii_lowercase() == p)
        })
}

/// Why a case cannot run in this run, if it cannot.
fn skip_reason(case: &Case, target: &Target, options: &Options) -> Option<String> {
    let fault = options.fault.as_ref();
    match (case.needs, fault) {
        (Needs::StoreDown, Some(Fault::StoreDown)) => None,
        (Needs::CorruptRoom, Some(Fault::CorruptRoom { .. })) => None,
        (Needs::StoreDown, _) => Some("needs --fault store-down".into()),
        (Needs::CorruptRoom, _) => Some("needs --fault corrupt-room=TYPE/ID".into()),
        (_, Some(_)) => Some("the server is in a fault state (--fault)".into()),
        (Needs::PushKey, None) if target.push_key.is_none() => Some("needs --push-key".into()),
        (Needs::RoomLimit, None) if options.rooms_per_user.is_none() => {
            Some("needs --rooms-per-user N".into())
        }
        (Needs::PushKey | Needs::Healthy | Needs::RoomLimit, None) => None,
    }
}

/// Runs `cases` (those `only` selects) against `target`; `parallel` independent cases at once.
/// `on_result` sees each result as it comes (for live output).
pub async fn run(
    target: Target,
    options: Options,
    cases: Vec<Case>,
    only: Option<&str>,
    parallel: usize,
    mut on_result: impl FnMut(&CaseResult),
) -> Report {
    let started = Instant::now();
    let server = Server::new(target.clone());
    let ctx = Arc::new(Ctx::new(server.clone(), options.clone()));
    let (exclusive, shared): (Vec<Case>, Vec<Case>) = cases
        .into_iter()
        .filter(|c| selected(c, only))
        .partition(|c| c.exclusive);
    let mut results = Vec::new();
    let mut pending = futures_util::stream::iter(shared)
        .map(|case| run_one(case, ctx.clone(), &target, &options))
        .buffer_unordered(parallel.max(1));
    while let Some(result) = pending.next().await {
        on_result(&result);
        results.push(result);
    }
    drop(pending);
    for case in exclusive {
        let result = run_one(case, ctx.clone(), &target, &options).await;
        on_result(&result);
        results.push(result);
    }
    Report {
        results,
        asserted_codes: server.asserted_codes(),
        duration: started.elapsed(),
    }
}

async fn run_one(case: Case, ctx: Arc<Ctx>, target: &Target, options: &Options) -> CaseResult {
    let started = Instant::now();
    let outcome = match skip_reason(&case, target, options) {
        Some(reason) => Outcome::Skip(reason),
        None => match tokio::spawn((case.run)(ctx)).await {
            Ok(Ok(())) => Outcome::Pass,
            Ok(Err(failure)) => Outcome::Fail(failure),
            Err(e) => Outcome::Fail(Failure::new("the case to finish", format!("{e}"))),
        },
    };
    CaseResult {
        id: case.id,
        clauses: case.clauses,
        outcome,
        duration: started.elapsed(),
    }
}
