//! The run's report as text (one line per case and a summary), JSON or JUnit XML.

use serde_json::json;

use crate::runner::{CaseResult, Outcome, Report};

/// One line per case: status, id, cited clauses, and on failure what was expected and seen.
pub fn text_line(result: &CaseResult) -> String {
    let clauses = result.clauses.join(",");
    let secs = result.duration.as_secs_f64();
    match &result.outcome {
        Outcome::Pass => format!("pass  {:<52} [{clauses}] {secs:.2}s", result.id),
        Outcome::Skip(why) => format!("skip  {:<52} [{clauses}] {why}", result.id),
        Outcome::Fail(f) => format!(
            "FAIL  {:<52} [{clauses}] expected {}; received {}",
            result.id, f.expected, f.received
        ),
    }
}

/// `N passed, M failed`, with skips and time.
pub fn summary(report: &Report) -> String {
    let mut line = format!("{} passed, {} failed", report.passed(), report.failed());
    if report.skipped() > 0 {
        line.push_str(&format!(" ({} skipped)", report.skipped()));
    }
    line.push_str(&format!(" in {:.1}s", report.duration.as_secs_f64()));
    line
}

pub fn json(report: &Report) -> String {
    let results: Vec<_> = report
        .results
        .iter()
        .map(|r| {
            let mut v = json!({
                "id": r.id,
                "clauses": r.clauses,
                "seconds": r.duration.as_secs_f64(),
            });
            match &r.outcome {
                Outcome::Pass => v["outcome"] = "pass".into(),
                Outcome::Skip(why) => {
                    v["outcome"] = "skip".into();
                    v["reason"] = why.as_str().into();
                }
                Outcome::Fail(f) => {
                    v["outcome"] = "fail".into();
                    v["expected"] = f.expected.as_str().into();
                    v["received"] = f.received.as_str().into();
                }
            }
            v
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "passed": report.passed(),
        "failed": report.failed(),
        "skipped": report.skipped(),
        "seconds": report.duration.as_secs_f64(),
        "assertedCodes": report.asserted_codes,
        "results": results,
    }))
    .expect("JSON values serialise")
}

pub fn junit(report: &Report) -> String {
    use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("rtcroom-conformance");
    for r in &report.results {
        let status = match &r.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Skip(why) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.as_str());
                s
            }
            Outcome::Fail(f) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("expected {}", f.expected));
                s.set_description(format!("received {}", f.received));
                s
            }
        };
        let mut case = TestCase::new(r.id, status);
        case.set_classname(r.clauses.join(","));
        case.set_time(r.duration);
        suite.add_test_case(case);
    }
    let mut junit = JUnit::new("rtcroom-conformance");
    junit.add_test_suite(suite);
    junit.to_string().expect("a JUnit report serialises")
}
