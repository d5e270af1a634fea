//! The relay's front ends, one per protocol, each in its own folder (`rtmp/`, `flv/`, `srt/`)
//! around the protocol-neutral core (`relay`, `hub`, `media`, `player`). Registering a front
//! end is the one line it has in [`register!`] below: that gives it its settings (parsed with
//! the relay's configuration), its start with the relay, and a slot for the per-message
//! framing its players share. The core never names a front end: this registry sits above
//! them, and `config` and `server` above it.

use std::sync::Arc;

use crate::media::{Framed, MAX_FRAMINGS, Media, Slot};
pub use crate::protocol::{FrontEnd, Listening};
use crate::relay::Relay;
use crate::settings::ConfigError;

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
        const _: () = assert!(COUNT <= MAX_FRAMINGS, "raise media::MAX_FRAMINGS");

        register!(@slots 0usize; $($front_end),+);

        /// Starts every front end, in order.
        pub async fn start_all(relay: &Arc<Relay>, configs: &Configs) -> Result<Listening, String> {
            Ok(Listening(vec![$((
                <$front_end as FrontEnd>::NAME,
                <$front_end as FrontEnd>::start(relay.clone(), &configs.$field).await?,
            ),)+]))
        }
    };
    (@slots $n:expr; $first:ty $(, $rest:ty)*) => {
        impl Slot for $first {
            const SLOT: usize = $n;
            fn frame(media: &Media) -> Framed {
                <$first as FrontEnd>::frame(media)
            }
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::flv::Flv;
    use crate::media::{Frame, TYPE_VIDEO};
    use crate::rtmp::Rtmp;

    #[test]
    fn each_front_ends_framing_is_built_once_and_only_when_asked_for() {
        let frame = Frame::new(TYPE_VIDEO, 40, Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]));
        let copy = frame.clone();
        assert!(!frame.is_framed::<Rtmp>() && !frame.is_framed::<Flv>());
        let head = frame.framed::<Flv>().head.as_ptr();
        assert!(copy.is_framed::<Flv>(), "clones share the framing");
        assert!(!copy.is_framed::<Rtmp>(), "nobody played it over RTMP");
        assert_eq!(copy.framed::<Flv>().head.as_ptr(), head, "built once");
        assert_eq!(
            &copy.framed::<Flv>().head[..],
            &[9, 0, 0, 6, 0, 0, 40, 0, 0, 0, 0]
        );
    }
}
