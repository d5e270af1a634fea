//! The rtcroom conformance suite: black-box cases over HTTP, each citing the clauses of
//! `spec/` it checks, and a runner that reports on any server (`rtcroom-conformance`).
//!
//! Cases need only the server's base URL, its sdkAppID and its UserSig key (to mint UserSigs
//! for test users). Every answer is validated against `spec/openapi.yaml` on the way.

pub mod case;
pub mod cases;
pub mod client;
pub mod report;
pub mod runner;
pub mod spec;

/// Every case of the suite.
pub fn all_cases() -> Vec<case::Case> {
    cases::all()
}
