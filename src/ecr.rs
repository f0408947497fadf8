//! The token source: Amazon ECR authorization tokens through the AWS SDK.
//!
//! Credentials come from the SDK's default chain (environment, shared
//! profile, web identity, ECS/EKS container credentials, EC2 IMDSv2), with an
//! optional role assumed on top through STS. `AWS_ENDPOINT_URL` and the other
//! SDK-standard settings are honoured by the SDK itself. Token facts are in
//! docs/ecr.md.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;

use crate::bounded::{LimitedHttpClient, AWS_BODY_LIMIT};
use crate::config::AwsSettings;
use crate::metrics::Metrics;
use crate::registry_host::RegistryHost;
use crate::secret::Secret;

/// GetAuthorizationToken takes at most 10 registry ids per call.
const MAX_IDS_PER_CALL: usize = 10;

/// One registry's Docker login, decoded.
#[derive(Debug, Clone)]
pub struct EcrToken {
    /// Registry host from `proxyEndpoint`, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub host: RegistryHost,
    /// Always `AWS` in practice.
    pub username: String,
    pub password: Secret,
    /// When ECR says the token stops working; `None` if it did not say.
    pub expires_at: Option<SystemTime>,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    #[error("AWS request failed ({kind}): {message}{hint}", hint = kind.hint())]
    Api { kind: AwsFailure, message: String },
    #[error("ECR returned an unusable authorization token for {endpoint}: {reason}")]
    MalformedToken {
        endpoint: String,
        reason: &'static str,
    },
    #[error("ECR returned no authorization data")]
    NoAuthorizationData,
}

/// The cause of an AWS failure, coarse enough to act on (and to count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFailure {
    Auth,
    Throttled,
    Unreachable,
    /// The EC2 instance metadata service (the last link of the credential
    /// chain) did not answer.
    Metadata,
    Other,
}

impl EcrError {
    /// Whether the failure may pass by itself soon: throttling, an
    /// unreachable endpoint or metadata service.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EcrError::Api {
                kind: AwsFailure::Throttled | AwsFailure::Unreachable | AwsFailure::Metadata,
                ..
            }
        )
    }

    /// A short cause label, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            EcrError::Api { kind, .. } => kind.label(),
            EcrError::MalformedToken { .. } | EcrError::NoAuthorizationData => "aws_bad_token",
        }
    }
}

impl AwsFailure {
    pub fn label(self) -> &'static str {
        match self {
            AwsFailure::Auth => "aws_auth",
            AwsFailure::Throttled => "aws_throttled",
            AwsFailure::Unreachable => "aws_unreachable",
            AwsFailure::Metadata => "aws_imds",
            AwsFailure::Other => "aws_error",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            AwsFailure::Auth => {
                "; check the AWS credentials and that their IAM policy allows \
                 ecr:GetAuthorizationToken (and sts:AssumeRole for AWS_ROLE_ARN)"
            }
            AwsFailure::Throttled => "; ECR is throttling this account, retrying later",
            AwsFailure::Unreachable => {
                "; check network access to the ECR and STS endpoints (and HTTPS_PROXY/NO_PROXY)"
            }
            AwsFailure::Metadata => {
                "; no credentials came from the environment or a profile, and the EC2 instance \
                 metadata service did not answer: on EC2 with Docker bridge networking, IMDSv2 \
                 needs a hop limit of 2 (aws ec2 modify-instance-metadata-options \
                 --http-put-response-hop-limit 2); elsewhere, give AWS credentials"
            }
            AwsFailure::Other => "",
        }
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Finds the region in `explicit` (AWS_REGION / --aws-region), then
/// AWS_DEFAULT_REGION, then the shared config profile. Reads local files
/// only: no instance metadata call at start.
pub async fn resolve_region(explicit: Option<&str>) -> Option<Region> {
    RegionProviderChain::first_try(explicit.map(|r| Region::new(r.to_string())))
        .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .or_else(aws_config::profile::ProfileFileRegionProvider::new())
        .region()
        .await
}

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

/// The SDK's HTTPS client (hyper and rustls, proxies from HTTPS_PROXY/
/// NO_PROXY), with ring for cryptography like the Rancher client, so one
/// crypto library serves both, and trusting `ca_bundle` (PEM) besides the
/// system roots.
pub(crate) fn https_client(ca_bundle: Option<&[u8]>) -> aws_sdk_ecr::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
    let mut trust = TrustStore::default();
    if let Some(pem) = ca_bundle {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    // The bundle was checked when the configuration was read.
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    // The SDK and the credential providers read whole bodies with no size
    // limit of their own: bound them all here (see bounded.rs).
    LimitedHttpClient::wrap(client, AWS_BODY_LIMIT)
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
        // The SDK only bounds connecting by default; a silent endpoint must
        // not stall the refresh loop (and let a token lapse).
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(60))
            .build();
        let http = https_client(ca_bundle);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .timeout_config(timeouts)
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
        TokenSource {
            client: aws_sdk_ecr::Client::new(&sdk_config),
            sdk_config,
            registry_ids: settings.registry_ids.clone(),
            metrics,
        }
    }

    /// The region the tokens are for.
    pub fn region(&self) -> &str {
        self.sdk_config.region().map(|r| r.as_ref()).unwrap_or("")
    }

    /// The ARN the token requests run as (STS GetCallerIdentity), for `--check`.
    pub async fn caller_identity(&self) -> Result<String, EcrError> {
        let started = Instant::now();
        let result = aws_sdk_sts::Client::new(&self.sdk_config)
            .get_caller_identity()
            .send()
            .await;
        self.metrics
            .aws_request("GetCallerIdentity", started.elapsed());
        let identity = result.map_err(classify)?;
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
            let started = Instant::now();
            let result = request.send().await;
            self.metrics
                .aws_request("GetAuthorizationToken", started.elapsed());
            let output = result.map_err(classify)?;
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
        let started = Instant::now();
        let result = request.send().await;
        self.metrics
            .aws_request("GetAuthorizationToken", started.elapsed());
        let output = result.map_err(classify)?;
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
}

pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> EcrError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let kind = match &err {
        SdkError::TimeoutError(_) => AwsFailure::Unreachable,
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            AwsFailure::Unreachable
        }
        SdkError::DispatchFailure(_) if imds_failed(&err) => AwsFailure::Metadata,
        SdkError::DispatchFailure(_) if caused_by::<CredentialsError>(&err) => AwsFailure::Auth,
        SdkError::ServiceError(_) => match err.code() {
            Some(
                "ThrottlingException"
                | "ThrottleException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded",
            ) => AwsFailure::Throttled,
            Some(
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch",
            ) => AwsFailure::Auth,
            _ => AwsFailure::Other,
        },
        _ => AwsFailure::Other,
    };
    EcrError::Api {
        kind,
        message: describe(&err),
    }
}

/// Whether the credential chain failed at IMDS. aws-config reports a token
/// request that got no answer (the hop-limit symptom) with a private error
/// type, listed inside the chain's own message, so that case is known by its
/// fixed text; other IMDS failures carry the public `ImdsError`.
pub(crate) fn imds_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(error) = current {
        if error.is::<aws_config::imds::client::error::ImdsError>()
            || error
                .to_string()
                .contains("could not communicate with IMDS")
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// Whether `T` is somewhere in the error's source chain.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(error) = current {
        if error.is::<T>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// An SDK error as text from `Display` alone: a service error's code and
/// message, otherwise the source chain. Never `Debug` (nor the SDK's
/// `DisplayErrorContext`, which appends it): that shows the raw response,
/// and a response that failed to parse can hold a token or a temporary
/// secret key.
fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let (SdkError::ServiceError(_), Some(code)) = (err, err.code()) {
        return match err.message() {
            Some(text) => format!("{code}: {text}"),
            None => code.to_string(),
        };
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // One line, whatever the SDK's messages look like.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An `expiresAt` as a time, if it is one anybody can print: between 1970
/// and the year 9999 (what RFC 3339 can say). Anything else, from a broken
/// or hostile endpoint, counts as no expiry at all (docs/ecr.md).
pub fn expiry_time(at: &aws_sdk_ecr::primitives::DateTime) -> Option<SystemTime> {
    const YEAR_9999: i64 = 253_402_300_799;
    (0..=YEAR_9999)
        .contains(&at.secs())
        .then(|| SystemTime::try_from(*at).ok())
        .flatten()
}

/// Decodes one `authorizationData` entry: the token is base64 of
/// `user:password` (split at the first `:`), the host comes from
/// `proxyEndpoint`. Errors name the endpoint and never the token.
pub fn decode_token(
    token: Option<&str>,
    proxy_endpoint: Option<&str>,
    expires_at: Option<SystemTime>,
) -> Result<EcrToken, EcrError> {
    let endpoint = proxy_endpoint.unwrap_or("").to_string();
    let malformed = |reason| EcrError::MalformedToken {
        endpoint: if endpoint.is_empty() {
            "(no proxyEndpoint)".to_string()
        } else {
            endpoint.clone()
        },
        reason,
    };
    let host = RegistryHost::parse(&endpoint)
        .map_err(|_| malformed("proxyEndpoint is missing or not a registry URL"))?;
    let token = token.ok_or_else(|| malformed("authorizationToken is missing"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| malformed("authorizationToken is not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| malformed("authorizationToken is not text"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("authorizationToken has no user:password separator"))?;
    if username.is_empty() || password.is_empty() {
        return Err(malformed(
            "authorizationToken has an empty user or password",
        ));
    }
    Ok(EcrToken {
        host,
        username: username.to_string(),
        password: Secret::new(password),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn decodes_user_password_and_host() {
        let token = decode_token(
            Some(&b64("AWS:pass:with:colons")),
            Some("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            None,
        )
        .unwrap();
        assert_eq!(token.username, "AWS");
        assert_eq!(token.password.expose(), "pass:with:colons");
        assert_eq!(
            token.host.as_str(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert!(!format!("{token:?}").contains("pass:with"));
    }

    #[test]
    fn malformed_tokens_name_the_endpoint_not_the_token() {
        let endpoint = Some("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        for bad in [
            b64("no-separator-SECRET"),
            "%%%SECRET%%%".to_string(),
            b64("AWS:"),
        ] {
            let err = decode_token(Some(&bad), endpoint, None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
                "{err}"
            );
            assert!(!err.contains("SECRET") && !err.contains(&bad), "{err}");
        }
        let err = decode_token(Some(&b64("AWS:x")), None, None).unwrap_err();
        assert!(err.to_string().contains("proxyEndpoint"), "{err}");
        let err = decode_token(None, endpoint, None).unwrap_err();
        assert!(
            err.to_string().contains("authorizationToken is missing"),
            "{err}"
        );
    }

    #[test]
    fn unprintable_expiries_count_as_none() {
        use aws_sdk_ecr::primitives::DateTime;
        assert!(expiry_time(&DateTime::from_secs(-1)).is_none());
        assert!(expiry_time(&DateTime::from_secs(300_000_000_000)).is_none());
        let ok = expiry_time(&DateTime::from_secs(1_800_000_000)).unwrap();
        // And what is kept always prints.
        let _ = humantime::format_rfc3339_seconds(ok).to_string();
    }
}
