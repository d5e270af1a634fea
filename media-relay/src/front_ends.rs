//! The relay's front ends, one per protocol, each in its own folder (`rtmp/`, `flv/`, `srt/`)
//! around the protocol-neutral core (`relay`, `hub`, `media`, `player`). Registering a front
//! end is the one line it has in [`register!`] below: that gives it its settings (parsed with
//! the relay's configuration), its start with the relay, and a slot for the per-message
//! framing its players share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{ConfigError, RelayConfig};
use crate::media::{Framed, Media};
use crate::relay::Relay;

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

/// A registered front end: its framing slot in every message.
pub trait Registered: FrontEnd {
    const SLOT: usize;
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

macro_rules! register {
    ($($field:ident: $front_end:ty),+ $(,)?) => {
        /// Every front end's own settings.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Configs {
            $(pub $field: <$front_end as FrontEnd>::Config,)+
        }

        impl Configs {
            pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
                Ok(Self {
                    $($field: <$front_end as FrontEnd>::configure(get)?,)+
                })
            }
        }

        /// How many front ends there are (framing slots per message).
        pub const COUNT: usize = [$(stringify!($field)),+].len();

        register!(@slots 0usize; $($front_end),+);

        /// Starts every front end, in order.
        pub async fn start_all(relay: &Arc<Relay>, config: &RelayConfig) -> Result<Listening, String> {
            Ok(Listening(vec![$((
                <$front_end as FrontEnd>::NAME,
                <$front_end as FrontEnd>::start(relay.clone(), &config.front_ends.$field).await?,
            ),)+]))
        }
    };
    (@slots $n:expr; $first:ty $(, $rest:ty)*) => {
        impl Registered for $first {
            const SLOT: usize = $n;
        }
        register!(@slots $n + 1; $($rest),*);
    };
    (@slots $n:expr;) => {};
}

register! {
    rtmp: crate::rtmp::Rtmp,
    flv: crate::flv::Flv,
    srt: crate::srt::Srt,
}
