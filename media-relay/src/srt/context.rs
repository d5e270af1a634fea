//! What the SRT listener's handshake check and the sessions share: the context, and the check
//! of a stream id (its signature for its mode, a publish of a held stream).

use std::sync::Arc;

use rtcroom_shared::urls::record::RecordPolicy;
use rtcroom_shared::urls::srt::{SrtMode, SrtStreamId};

use super::SrtConfig;
use super::ffi::{Api, reject};
use super::stats::Connections;
use crate::relay::{Access, Relay, Signature, authorise};

/// What the callback and the sessions share.
pub(super) struct Context {
    pub api: &'static Api,
    pub relay: Arc<Relay>,
    pub runtime: tokio::runtime::Handle,
    pub config: SrtConfig,
    pub connections: Connections,
}

/// An SRT reject code and the reason counted in `/metrics`.
pub(super) type Refusal = (i32, &'static str);

/// The stream id's signature, for its mode; a publish of a stream someone else holds. The
/// recording policy of a recorded publish (`record=`, covered by the signature).
pub(super) fn check(
    relay: &Relay,
    id: &SrtStreamId,
) -> Result<(Access, Option<RecordPolicy>), Refusal> {
    let access = match id.mode {
        SrtMode::Publish => Access::Publish,
        SrtMode::Request => Access::Play,
    };
    let signature = Signature {
        secret: id.tx_secret.as_deref(),
        time: id.tx_time.as_deref(),
        record: id.record.as_deref(),
    };
    let policy = authorise(relay, &id.stream, signature, access)
        .map_err(|_| (reject::UNAUTHORIZED, "signature"))?;
    if access == Access::Publish && relay.hub.is_held(&id.stream) {
        return Err((reject::CONFLICT, "taken"));
    }
    Ok((access, policy))
}
