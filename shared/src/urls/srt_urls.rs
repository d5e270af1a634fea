//! The SRT addresses `UrlSigner` hands out beside the RTMP and FLV ones (an rtcroom extension,
//! spec/url-signing.md URL-5 to URL-8): per stream, a publish address signed with the push key
//! and a play address signed with the play key, each with the passphrase derived from its key
//! (`srt::srt_passphrase`), the signature the same as that of the RTMP URL of the same side.

use super::srt::{
    MAX_STREAM_ID, SrtMode, srt_passphrase, srt_recorded_stream_id, srt_stream_id, srt_url,
};
use super::{UrlSigner, record};

/// One SRT address and the passphrase its stream is encrypted with (the URL carries it too,
/// for tools that take the URL alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtAddress {
    pub url: String,
    pub passphrase: String,
}

/// A stream's SRT publish address (push key) and play address (play key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtUrls {
    pub push: SrtAddress,
    pub play: SrtAddress,
}

impl UrlSigner {
    /// The SRT publish address of `stream`: `m=publish`, the push key's signature (the RTMP
    /// push URL's `txSecret`/`txTime`) and the push key's passphrase. `None` without an SRT host.
    pub fn srt_push(&self, stream: &str, now: u64) -> Option<SrtAddress> {
        self.srt_address(&self.push_key, stream, SrtMode::Publish, now)
    }

    /// The SRT play address of `stream`: `m=request`, the play key's signature (that of
    /// `accelerateURL`) and the play key's passphrase. `None` without an SRT host.
    pub fn srt_play(&self, stream: &str, now: u64) -> Option<SrtAddress> {
        self.srt_address(&self.play_key, stream, SrtMode::Request, now)
    }

    pub(super) fn srt_urls(&self, stream: &str, now: u64) -> Option<SrtUrls> {
        Some(SrtUrls {
            push: self.srt_push(stream, now)?,
            play: self.srt_play(stream, now)?,
        })
    }

    /// The SRT publish address of a stream to be recorded as `policy` says: the policy in the
    /// stream id and the recorded push URL's signature, which covers it (URL-9).
    pub fn recorded_srt_push(
        &self,
        stream: &str,
        now: u64,
        policy: &record::RecordPolicy,
    ) -> Option<SrtAddress> {
        let host = self.srt_host.as_deref()?;
        let (secret, time, encoded) = self.recorded_signature(stream, now, policy);
        let id = srt_recorded_stream_id(stream, &secret, &time, &encoded);
        // A stream id libsrt would refuse (long room and user ids) gets no SRT address.
        if id.len() > MAX_STREAM_ID {
            return None;
        }
        let passphrase = srt_passphrase(&self.push_key, stream);
        Some(SrtAddress {
            url: srt_url(host, &id, &passphrase),
            passphrase,
        })
    }

    fn srt_address(&self, key: &str, stream: &str, mode: SrtMode, now: u64) -> Option<SrtAddress> {
        let host = self.srt_host.as_deref()?;
        let (secret, time) = self.sign(key, stream, now);
        let passphrase = srt_passphrase(key, stream);
        Some(SrtAddress {
            url: srt_url(
                host,
                &srt_stream_id(stream, mode, &secret, &time),
                &passphrase,
            ),
            passphrase,
        })
    }
}

#[cfg(test)]
mod tests {
    use percent_encoding::percent_decode_str;

    use super::*;
    use crate::urls::srt::{SrtStreamId, parse_srt_stream_id};
    use crate::urls::{UrlAuthError, verify};

    fn signer(srt_host: Option<&str>) -> UrlSigner {
        crate::urls::example_signer(srt_host)
    }

    /// A query parameter of `url`, percent-decoded.
    fn param(url: &str, name: &str) -> Option<String> {
        let (_, query) = url.split_once('?')?;
        query.split('&').find_map(|kv| {
            let value = kv.strip_prefix(name)?.strip_prefix('=')?;
            Some(percent_decode_str(value).decode_utf8().ok()?.into_owned())
        })
    }

    /// The stream id inside an SRT URL, parsed.
    fn stream_id(url: &str) -> SrtStreamId {
        parse_srt_stream_id(&param(url, "streamid").expect("a streamid")).expect("it parses")
    }

    #[test]
    fn srt_urls_carry_the_rtmp_signatures_and_their_keys_passphrases() {
        let s = signer(Some("srt.example:9000"));
        let urls = s.urls("8888_bob_00ff", 1_000);
        let srt = urls.srt.clone().expect("SRT addresses with an SRT host");
        assert_eq!(Some(srt.push.clone()), s.srt_push("8888_bob_00ff", 1_000));
        assert_eq!(Some(srt.play.clone()), s.srt_play("8888_bob_00ff", 1_000));
        for (address, key, mode, rtmp) in [
            (&srt.push, "k", SrtMode::Publish, &urls.push_url),
            (&srt.play, "p", SrtMode::Request, &urls.accelerate_url),
        ] {
            assert!(address.url.starts_with("srt://srt.example:9000?streamid="));
            let id = stream_id(&address.url);
            assert_eq!((id.stream.as_str(), id.mode), ("8888_bob_00ff", mode));
            // The same signature as the RTMP URL of the same side: same key, same txTime.
            assert_eq!(id.tx_time, param(rtmp, "txTime"));
            assert_eq!(id.tx_secret, param(rtmp, "txSecret"));
            let check = |key: &str, now: u64| {
                verify(
                    key,
                    "8888_bob_00ff",
                    id.tx_secret.as_deref(),
                    id.tx_time.as_deref(),
                    now,
                )
            };
            assert_eq!(check(key, 1_100), Ok(()));
            assert!(matches!(
                check(key, 1_101),
                Err(UrlAuthError::Expired { .. })
            ));
            assert_eq!(address.passphrase, srt_passphrase(key, "8888_bob_00ff"));
            assert_eq!(
                param(&address.url, "passphrase").as_deref(),
                Some(address.passphrase.as_str())
            );
            assert_eq!(param(&address.url, "pbkeylen").as_deref(), Some("16"));
        }
    }

    #[test]
    fn an_srt_play_address_cannot_publish() {
        let s = signer(Some("srt.example:9000"));
        let srt = s.urls("8888_bob_00ff", 1_000).srt.unwrap();
        let play = stream_id(&srt.play.url);
        assert_eq!(play.mode, SrtMode::Request);
        assert_eq!(
            verify(
                "k",
                "8888_bob_00ff",
                play.tx_secret.as_deref(),
                play.tx_time.as_deref(),
                1_000
            ),
            Err(UrlAuthError::BadSecret)
        );
        assert_ne!(srt.play.passphrase, srt_passphrase("k", "8888_bob_00ff"));
        assert_ne!(srt.play.passphrase, srt.push.passphrase);
        let push = stream_id(&srt.push.url);
        assert_eq!(
            verify(
                "p",
                "8888_bob_00ff",
                push.tx_secret.as_deref(),
                push.tx_time.as_deref(),
                1_000
            ),
            Err(UrlAuthError::BadSecret)
        );
    }

    #[test]
    fn no_srt_host_no_srt_addresses() {
        let s = signer(None);
        assert_eq!(s.urls("8888_bob_00ff", 1_000).srt, None);
        assert_eq!(s.srt_push("8888_bob_00ff", 1_000), None);
        assert_eq!(s.srt_play("8888_bob_00ff", 1_000), None);
    }
}
