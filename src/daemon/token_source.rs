//! The daemon's token source: Amazon ECR authorization tokens through the
//! AWS SDK, for one identity.
//!
//! Credentials come from the SDK's default chain (environment, shared
//! profile, web identity, ECS/EKS container credentials, EC2 IMDSv2), or a
//! source's profile, with an optional role assumed on top through STS.
//! `AWS_ENDPOINT_URL` and the other SDK-standard settings are honoured by
//! the SDK itself. The client lives as long as the daemon, so the SDK
//! caches and refreshes the credentials. Token facts are in docs/ecr.md.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};

use super::metrics::Metrics;
use crate::aws::failure::classify;
use crate::aws::http::https_client;
use crate::aws::token::{decode_token, expiry_time};
use crate::aws::{AwsSettings, EcrError, EcrToken};

/// GetAuthorizationToken takes at most 10 registry ids per call.
const MAX_IDS_PER_CALL: usize = 10;

/// The tokens of one fetch, and the entries that could not be decoded.
#[derive(Debug, Default)]
pub struct Fetched {
    pub tokens: Vec<EcrToken>,
    pub malformed: Vec<EcrError>,
}

/// Fetches ECR tokens for the configured registries.
#[derive(Debug, Clone)]
pub struct TokenSource {
    sdk_config: aws_config::SdkConfig,
    client: aws_sdk_ecr::Client,
    registry_ids: Vec<String>,
    metrics: Arc<Metrics>,
}

impl TokenSource {
    /// Builds the SDK client. No network call happens here: credentials are
    /// resolved (and a role assumed) on the first request, and refreshed by
    /// the SDK when they expire. `ca_bundle` (PEM) is trusted in addition to
    /// the system roots.
    pub async fn new(
        settings: &AwsSettings,
        region: Region,
        ca_bundle: Option<&[u8]>,
        metrics: Arc<Metrics>,
    ) -> TokenSource {
        let http = https_client(ca_bundle);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .timeout_config(TokenSource::timeouts())
            .http_client(http.clone());
        if let Some(profile) = &settings.profile {
            // The profile's credentials only: the default chain would put
            // the environment's keys first.
            let provider_config = ProviderConfig::without_region()
                .with_region(Some(region))
                .with_http_client(http);
            let provider = ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(profile)
                .build();
            loader = loader.profile_name(profile).credentials_provider(provider);
        }
        let base = loader.load().await;
        let sdk_config = match &settings.role {
            None => base,
            Some(role) => {
                let mut provider = AssumeRoleProvider::builder(role.arn.clone())
                    .session_name(role.session_name.clone())
                    .configure(&base);
                if let Some(external_id) = &role.external_id {
                    provider = provider.external_id(external_id.clone());
                }
                let provider = provider.build().await;
                base.into_builder()
                    .credentials_provider(aws_sdk_ecr::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
        };
        TokenSource::from_sdk_config(sdk_config, settings.registry_ids.clone(), metrics)
    }

    /// A token source over an SDK configuration already made: the one
    /// [`TokenSource::new`] loads, or another (its HTTP client and
    /// credentials are the SDK's own seams; the soak test gives an
    /// in-process AWS there).
    pub fn from_sdk_config(
        sdk_config: aws_config::SdkConfig,
        registry_ids: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> TokenSource {
        TokenSource {
            client: aws_sdk_ecr::Client::new(&sdk_config),
            sdk_config,
            registry_ids,
            metrics,
        }
    }

    /// The SDK only bounds connecting by default; a silent endpoint must
    /// not stall the refresh loop (and let a token lapse).
    pub fn timeouts() -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(60))
            .build()
    }

    /// The region the tokens are for.
    pub fn region(&self) -> &str {
        self.sdk_config.region().map(|r| r.as_ref()).unwrap_or("")
    }

    /// The ARN the token requests run as (STS GetCallerIdentity), for `--check`.
    pub async fn caller_identity(&self) -> Result<String, EcrError> {
        let request = aws_sdk_sts::Client::new(&self.sdk_config)
            .get_caller_identity()
            .send();
        let identity = self.timed("GetCallerIdentity", request).await?;
        Ok(identity.arn().unwrap_or("(unknown)").to_string())
    }

    /// One token per registry: the caller's default registry when no ids are
    /// configured. A malformed entry spoils only itself.
    pub async fn fetch(&self) -> Result<Fetched, EcrError> {
        let batches: Vec<Option<Vec<String>>> = if self.registry_ids.is_empty() {
            vec![None]
        } else {
            self.registry_ids
                .chunks(MAX_IDS_PER_CALL)
                .map(|ids| Some(ids.to_vec()))
                .collect()
        };
        let mut fetched = Fetched::default();
        for ids in batches {
            // Deprecated by AWS because the token works for every registry
            // the principal may read, but it is still how ECR returns one
            // proxyEndpoint (host) per registry id, which AWS_ECR_REGISTRY_IDS needs.
            #[allow(deprecated)]
            let request = self.client.get_authorization_token().set_registry_ids(ids);
            let output = self.timed("GetAuthorizationToken", request.send()).await?;
            for data in output.authorization_data() {
                let token = decode_token(
                    data.authorization_token(),
                    data.proxy_endpoint(),
                    data.expires_at().and_then(expiry_time),
                );
                match token {
                    Ok(token) => fetched.tokens.push(token),
                    Err(err) => fetched.malformed.push(err),
                }
            }
        }
        if fetched.tokens.is_empty() && fetched.malformed.is_empty() {
            return Err(EcrError::NoAuthorizationData);
        }
        Ok(fetched)
    }

    /// One token for every registry the identity may pull from in `region`
    /// (GetAuthorizationToken without registry ids), for ECR_DISCOVER and
    /// the config file's sources. Its host is the identity's own registry
    /// there. Only the region changes: which endpoint is called still
    /// follows the SDK's settings (AWS_ENDPOINT_URL, AWS_USE_FIPS_ENDPOINT).
    /// Clients of every region share the credentials and their cache.
    pub async fn fetch_region(&self, region: &str) -> Result<EcrToken, EcrError> {
        let config = aws_sdk_ecr::config::Builder::from(&self.sdk_config)
            .region(Region::new(region.to_string()))
            .build();
        let request = aws_sdk_ecr::Client::from_conf(config).get_authorization_token();
        let output = self.timed("GetAuthorizationToken", request.send()).await?;
        let data = output
            .authorization_data()
            .first()
            .ok_or(EcrError::NoAuthorizationData)?;
        decode_token(
            data.authorization_token(),
            data.proxy_endpoint(),
            data.expires_at().and_then(expiry_time),
        )
    }

    /// Runs one AWS call, records its duration, and classifies its failure.
    async fn timed<T, E, R>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, EcrError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let started = Instant::now();
        let result = call.await;
        self.metrics.aws_request(operation, started.elapsed());
        result.map_err(classify)
    }
}
