//! The cases, grouped by what they exercise. Each module's cases cite clauses of
//! `spec/room-semantics.md`, `spec/usersig.md`, `spec/url-signing.md` and `spec/events.md`.

mod events;
mod faults;
mod hardening;
mod identity;
mod leaving;
mod list;
mod live;
mod presence;
mod recording;
mod rooms;
mod session;
mod sessions;
mod srt;
mod streams;
mod wire;
mod ws;

use crate::case::Case;

pub fn all() -> Vec<Case> {
    [
        session::cases(),
        identity::cases(),
        wire::cases(),
        streams::cases(),
        srt::cases(),
        recording::cases(),
        rooms::cases(),
        leaving::cases(),
        presence::cases(),
        list::cases(),
        live::cases(),
        events::cases(),
        sessions::cases(),
        hardening::cases(),
        faults::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
