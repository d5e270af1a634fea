//! The sweeper: evicts members whose heartbeats stopped (recording their leave events), ends
//! rooms that lost their creator or everyone, reclaims inactive rooms. Presence is already
//! decided at read time; the sweeper makes the departures *happen* (events, freed items).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::app::App;

/// Runs one sweep and logs what it did.
pub async fn sweep_once(app: &App) {
    match app.rooms.sweep().await {
        Ok(report) if report == Default::default() => {}
        Ok(report) => tracing::info!(
            evicted_members = report.evicted_members,
            evicted_audiences = report.evicted_audiences,
            dissolved_rooms = report.dissolved_rooms,
            reclaimed_rooms = report.reclaimed_rooms,
            "sweep"
        ),
        Err(e) => tracing::error!(error = %e, "sweep failed"),
    }
}

/// Sweeps every `RTCROOM_SWEEP_INTERVAL_SECS` (5 s by default) in the background.
pub fn spawn(app: Arc<App>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(app.config.sweep_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep_once(&app).await;
        }
    })
}
