//! The recording settings: per room type whether its streams are recorded (always, on
//! request, never) and in what, how long a room's list of segments is kept and who may read
//! it; and the play key recording needs apart from the push key.

use super::{ConfigError, Env};
use crate::rooms::{Limits, RecordMode};
use crate::urls::UrlSigner;
use crate::urls::record::RecordFormat;

pub(super) fn read(env: &Env, limits: &mut Limits, urls: &UrlSigner) -> Result<(), ConfigError> {
    for (i, var) in [
        "RTCROOM_DOUBLE_ROOM_RECORD",
        "RTCROOM_MULTI_ROOM_RECORD",
        "RTCROOM_LIVE_ROOM_RECORD",
    ]
    .into_iter()
    .enumerate()
    {
        limits.record[i] = match env.string(var).as_deref() {
            None | Some("off") => RecordMode::Off,
            Some("on" | "mp4") => RecordMode::Always(RecordFormat::Mp4),
            Some("flv") => RecordMode::Always(RecordFormat::Flv),
            Some("on-request") => RecordMode::OnRequest(RecordFormat::Mp4),
            Some("on-request-flv") => RecordMode::OnRequest(RecordFormat::Flv),
            Some(_) => {
                return Err(env.error(
                    var,
                    "off, on (fragmented MP4), mp4, flv, on-request (the rooms whose \
                     create_room asks, in MP4) or on-request-flv",
                ));
            }
        };
    }
    limits.recordings_keep_ms =
        env.bounded("RTCROOM_RECORDINGS_KEEP_DAYS", 30, 1, 3_650)? as u64 * 86_400_000;
    limits.recordings_for_members = env.flag("RTCROOM_RECORDINGS_FOR_MEMBERS")?.unwrap_or(false);
    if limits.record.iter().any(|m| m.format().is_some()) && urls.play_key == urls.push_key {
        return Err(env.error(
            "RTCROOM_PLAY_KEY",
            "must differ from RTCROOM_PUSH_KEY when a room type is recorded: signed with \
             the push key, a play URL's signature would publish the stream unrecorded",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::config::tests::config;

    #[test]
    fn recording_is_per_room_type_and_needs_a_play_key_of_its_own() {
        let c = config(
            Profile::LocalGateway,
            &[
                ("RTCROOM_DOUBLE_ROOM_RECORD", "on"),
                ("RTCROOM_MULTI_ROOM_RECORD", "on-request"),
                ("RTCROOM_LIVE_ROOM_RECORD", "flv"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.limits.record,
            [
                RecordMode::Always(RecordFormat::Mp4),
                RecordMode::OnRequest(RecordFormat::Mp4),
                RecordMode::Always(RecordFormat::Flv)
            ]
        );
        let c = config(
            Profile::LocalGateway,
            &[("RTCROOM_LIVE_ROOM_RECORD", "on-request-flv")],
        )
        .unwrap();
        assert_eq!(
            c.limits.record,
            [
                RecordMode::Off,
                RecordMode::Off,
                RecordMode::OnRequest(RecordFormat::Flv)
            ]
        );
        let bad = config(
            Profile::LocalGateway,
            &[("RTCROOM_MULTI_ROOM_RECORD", "yes")],
        );
        assert_eq!(bad.unwrap_err().var, "RTCROOM_MULTI_ROOM_RECORD");
        // Play URLs signed with the push key could publish the stream without its policy.
        let shared = config(
            Profile::LocalGateway,
            &[
                ("RTCROOM_DOUBLE_ROOM_RECORD", "on"),
                ("RTCROOM_PUSH_KEY", "same-key"),
                ("RTCROOM_PLAY_KEY", "same-key"),
            ],
        );
        assert_eq!(shared.unwrap_err().var, "RTCROOM_PLAY_KEY");
    }
}
