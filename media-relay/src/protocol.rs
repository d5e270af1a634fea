//! What a protocol front end is to the relay: its settings, its start, and the framing its
//! players share per message (`media`). Front ends implement [`FrontEnd`]; the registry in
//! `front_ends` lists them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::media::{Framed, Media};
use crate::relay::Relay;
use crate::settings::ConfigError;

/// A protocol the relay speaks.
pub trait FrontEnd: 'static {
    /// Names it in the listening line and in errors.
    const NAME: &'static str;
    /// Its own settings (`RTCROOM_RELAY_*`).
    type Config: std::fmt::Debug + Clone + PartialEq + Eq + Send + Sync;

    /// Reads its settings; a bad value names its variable.
    fn configure(get: &dyn Fn(&str) -> Option<String>) -> Result<Self::Config, ConfigError>;

    /// Binds its listener and serves in the background: where (`None`: turned off), or why
    /// not, naming the variable to change.
    fn start(
        relay: Arc<Relay>,
        config: &Self::Config,
    ) -> impl Future<Output = Result<Option<SocketAddr>, String>> + Send;

    /// What its players put around one message (see `media`): built at most once per
    /// message, by the first of them to send it. Front ends that frame per connection keep
    /// this default and never call it.
    fn frame(_media: &Media) -> Framed {
        Framed {
            head: Bytes::new(),
            tail: Bytes::new(),
        }
    }
}

/// Where each front end listens (`None`: turned off).
#[derive(Debug, Clone)]
pub struct Listening(pub Vec<(&'static str, Option<SocketAddr>)>);

impl Listening {
    /// The address of the front end called `name`, if it listens.
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, a)| *a)
    }
}

impl std::fmt::Display for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, addr) in &self.0 {
            let sep = if first { "" } else { ", " };
            first = false;
            match addr {
                Some(a) => write!(f, "{sep}{name} on {a}")?,
                None => write!(f, "{sep}{name} off")?,
            }
        }
        Ok(())
    }
}
