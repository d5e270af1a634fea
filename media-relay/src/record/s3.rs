//! Closed segments kept in S3 (`RTCROOM_RECORD_S3_BUCKET`): each is uploaded whole
//! (PutObject from the file, streamed; the bucket's own encryption applies), retried with
//! back-off until S3 confirms it, and only then is the local copy removed (`Recorder::deliver`).
//! Downloads of an uploaded segment are redirected to a presigned GET URL (`serve.rs`), so
//! the room service's signed URLs keep working and S3 credentials stay with the relay.
//!
//! The client is the AWS SDK's, configured from the environment like the DynamoDB store
//! (`AWS_REGION`, credentials or the task's role), over rustls with ring.
//! `RTCROOM_RECORD_S3_ENDPOINT` points it at an S3-compatible server (MinIO, moto), with
//! path-style addressing.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use rtcroom_shared::urls::record::RecordFormat;

use crate::settings::ConfigError;

/// The S3 settings (`RTCROOM_RECORD_S3_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `RTCROOM_RECORD_S3_BUCKET`.
    pub bucket: String,
    /// `RTCROOM_RECORD_S3_PREFIX` (default none): put before every segment's path.
    pub prefix: String,
    /// `RTCROOM_RECORD_S3_ENDPOINT` (default AWS's): an S3-compatible server.
    pub endpoint: Option<String>,
    /// `RTCROOM_RECORD_S3_UPLOADS` (default 2): uploads at once.
    pub uploads: usize,
}

impl S3Config {
    /// `None` without a bucket.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        uploads: usize,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(bucket) = get("RTCROOM_RECORD_S3_BUCKET").filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let endpoint = get("RTCROOM_RECORD_S3_ENDPOINT").filter(|e| !e.is_empty());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError {
                var: "RTCROOM_RECORD_S3_ENDPOINT",
                problem: "an http:// or https:// URL".into(),
            });
        }
        Ok(Some(Self {
            bucket,
            prefix: get("RTCROOM_RECORD_S3_PREFIX").unwrap_or_default(),
            endpoint,
            uploads,
        }))
    }
}

/// The bucket segments go to.
pub struct S3Store {
    client: Client,
    config: S3Config,
}

impl S3Store {
    pub async fn connect(config: S3Config) -> Self {
        use aws_config::timeout::TimeoutConfig;
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    // A 30-minute segment is a few hundred MB; a stalled upload is retried.
                    .operation_attempt_timeout(Duration::from_secs(600))
                    .build(),
            )
            .load()
            .await;
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint).force_path_style(true);
            if sdk.region().is_none() {
                s3 = s3.region(aws_sdk_s3::config::Region::new("us-east-1"));
            }
        }
        Self {
            client: Client::from_conf(s3.build()),
            config,
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The object key of a segment's path.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.config.prefix)
    }

    /// Where a segment is kept, as the `recorded` event tells it: `s3://{bucket}/{key}`.
    pub fn location(&self, relative: &str) -> String {
        format!("s3://{}/{}", self.config.bucket, self.key(relative))
    }

    /// Uploads `file` as the segment `relative`; `Ok` once S3 has confirmed it.
    pub async fn upload(
        &self,
        file: &Path,
        relative: &str,
        format: RecordFormat,
    ) -> Result<(), String> {
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        self.client
            .put_object()
            .bucket(&self.config.bucket)
            .key(self.key(relative))
            .content_type(content_type(format))
            .body(body)
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    /// A GET URL of the segment `relative` valid for `ttl` (at most 7 days, SigV4's limit).
    pub async fn presigned_get(&self, relative: &str, ttl: Duration) -> Result<String, String> {
        let ttl = ttl.clamp(Duration::from_secs(60), Duration::from_secs(7 * 86_400));
        let presigning = PresigningConfig::expires_in(ttl).map_err(|e| e.to_string())?;
        let request = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(self.key(relative))
            .presigned(presigning)
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        Ok(request.uri().to_owned())
    }
}

/// A segment's media type.
pub fn content_type(format: RecordFormat) -> &'static str {
    match format {
        RecordFormat::Mp4 => "video/mp4",
        RecordFormat::Flv => "video/x-flv",
    }
}
