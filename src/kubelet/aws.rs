//! Carrying out a [`Plan`]: credentials, then an optional STS role, then
//! the token. Each step runs under its own timeout, so a dead metadata
//! service or endpoint is reported as such within seconds, long before the
//! run's overall deadline (and the kubelet's minute).
//!
//! Credentials are resolved once, explicitly, and handed to the token
//! client as static credentials: that way a failure is known by its step
//! (the credential chain, STS, ECR) instead of surfacing as one opaque
//! dispatch error of the last call.

use std::error::Error as StdError;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::meta::ProviderChainError;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_ecr::config::{Region, SharedHttpClient};

use super::failure::{Failure, Step};
use super::plan::{Identity, Plan, TokenApi, SESSION_NAME};
use crate::aws::failure::{classify, imds_failed, one_line};
use crate::aws::token::{decode_token, expiry_time};
use crate::aws::{AwsFailure, EcrError, EcrToken};

/// The whole credential chain (environment to IMDS).
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(8);
/// Each IMDS request; two attempts are made.
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// Connecting to an AWS endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of an AWS call, and the call with its retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(12);

/// Gets the token the plan calls for.
pub async fn fetch_token(
    plan: &Plan,
    host: &str,
    ca_bundle: Option<&[u8]>,
) -> Result<EcrToken, Failure> {
    let region = plan.region().to_string();
    let http = crate::aws::http::https_client(ca_bundle);
    let credentials = credentials(plan, &region, &http).await?;
    let config = sdk_config(&region, &http, Some(credentials)).await;
    match &plan.api {
        TokenApi::Private { form, .. } => {
            let mut ecr = aws_sdk_ecr::config::Builder::from(&config);
            // An endpoint override (a VPC endpoint, a test server) excludes
            // the FIPS and dual-stack endpoint variants in the SDK's rules.
            if !endpoint_overridden(&config, "AWS_ENDPOINT_URL_ECR") {
                // The host asks for a variant; the SDK's own settings
                // (AWS_USE_FIPS_ENDPOINT, a profile) may ask for it too.
                let fips = form.fips() || config.use_fips().unwrap_or(false);
                let dual_stack = form.dual_stack() || config.use_dual_stack().unwrap_or(false);
                ecr = ecr.use_fips(fips).use_dual_stack(dual_stack);
            }
            let client = aws_sdk_ecr::Client::from_conf(ecr.build());
            let request = client.get_authorization_token().send();
            let output = call(Step::PrivateToken, &region, &None, request).await?;
            let data = output
                .authorization_data()
                .first()
                .ok_or(Failure::BadToken {
                    reason: "ECR returned no authorization data".into(),
                })?;
            decode(
                data.authorization_token(),
                data.proxy_endpoint(),
                data.expires_at(),
                host,
            )
        }
        TokenApi::Public { dual_stack } => {
            let mut public = aws_sdk_ecrpublic::config::Builder::from(&config);
            if !endpoint_overridden(&config, "AWS_ENDPOINT_URL_ECR_PUBLIC") {
                public =
                    public.use_dual_stack(*dual_stack || config.use_dual_stack().unwrap_or(false));
            }
            let client = aws_sdk_ecrpublic::Client::from_conf(public.build());
            let request = client.get_authorization_token().send();
            let output = call(Step::PublicToken, &region, &None, request).await?;
            let data = output.authorization_data().ok_or(Failure::BadToken {
                reason: "ECR Public returned no authorization data".into(),
            })?;
            decode(data.authorization_token(), None, data.expires_at(), host)
        }
    }
}

/// The credentials the plan's identity asks with: the default chain (or a
/// profile), a source's role assumed with them, or the pod's web identity.
async fn credentials(
    plan: &Plan,
    region: &str,
    http: &SharedHttpClient,
) -> Result<Credentials, Failure> {
    let region = region.to_string();
    let profile = plan.profile.as_deref();
    Ok(match &plan.identity {
        Identity::DefaultChain => default_credentials(&region, http, profile).await?,
        Identity::SourceRole { role, .. } => {
            let base = default_credentials(&region, http, profile).await?;
            let sts = aws_sdk_sts::Client::new(&sdk_config(&region, http, Some(base)).await);
            let mut request = sts
                .assume_role()
                .role_arn(&role.arn)
                .role_session_name(&role.session_name);
            if let Some(external_id) = &role.external_id {
                request = request.external_id(external_id);
            }
            let subject = Some(role.arn.clone());
            let output = call(Step::AssumeRole, &region, &subject, request.send()).await?;
            temporary_credentials(output.credentials(), Step::AssumeRole, &region)?
        }
        Identity::WebIdentity { role_arn, token } => {
            // AssumeRoleWithWebIdentity is not signed: the token is the proof.
            let sts = aws_sdk_sts::Client::new(&sdk_config(&region, http, None).await);
            let request = sts
                .assume_role_with_web_identity()
                .role_arn(role_arn)
                .role_session_name(SESSION_NAME)
                .web_identity_token(token.expose());
            let subject = Some(role_arn.clone());
            let output = call(Step::WebIdentity, &region, &subject, request.send()).await?;
            temporary_credentials(output.credentials(), Step::WebIdentity, &region)?
        }
    })
}

fn endpoint_overridden(config: &SdkConfig, service_variable: &str) -> bool {
    config.endpoint_url().is_some() || std::env::var_os(service_variable).is_some()
}

fn decode(
    token: Option<&str>,
    proxy_endpoint: Option<&str>,
    expires_at: Option<&aws_sdk_ecr::primitives::DateTime>,
    host: &str,
) -> Result<EcrToken, Failure> {
    let expires_at = expires_at.and_then(expiry_time);
    // The answer is keyed by the image's host whatever ECR calls it; a
    // missing proxyEndpoint (ECR Public never sends one) is no reason to fail.
    decode_token(token, proxy_endpoint.or(Some(host)), expires_at).map_err(|err| {
        Failure::BadToken {
            reason: err.to_string(),
        }
    })
}

/// Shared settings of every client of a run: region, timeouts, the HTTPS
/// client, and the credentials (none for unsigned STS calls).
async fn sdk_config(
    region: &str,
    http: &SharedHttpClient,
    credentials: Option<Credentials>,
) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT)
        .build();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(timeouts)
        .http_client(http.clone());
    match credentials {
        Some(credentials) => loader.credentials_provider(credentials),
        None => loader.no_credentials(),
    }
    .load()
    .await
}

/// The SDK's default chain (from `profile` when a source names one), with
/// IMDS limited to two one-second tries.
async fn default_credentials(
    region: &str,
    http: &SharedHttpClient,
    profile: Option<&str>,
) -> Result<Credentials, Failure> {
    let provider_config = ProviderConfig::without_region()
        .with_region(Some(Region::new(region.to_string())))
        .with_http_client(http.clone());
    // A source's profile alone: the default chain would put the
    // environment's keys first.
    let provider = match profile {
        Some(profile) => SharedCredentialsProvider::new(
            ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(profile)
                .build(),
        ),
        None => SharedCredentialsProvider::new(
            DefaultCredentialsChain::builder()
                .imds_client(
                    aws_config::imds::Client::builder()
                        .configure(&provider_config)
                        .connect_timeout(IMDS_TIMEOUT)
                        .read_timeout(IMDS_TIMEOUT)
                        .max_attempts(2)
                        .build(),
                )
                .configure(provider_config)
                .build()
                .await,
        ),
    };
    match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
        Ok(Ok(credentials)) => Ok(credentials),
        Ok(Err(err)) => Err(credentials_failure(&err)),
        Err(_) => Err(Failure::TimedOut {
            what: "the AWS credential lookup (environment, profile, web identity, container, \
                   instance metadata)",
            after: CREDENTIALS_TIMEOUT,
        }),
    }
}

/// Names the link of the chain that failed, or lists what each one said.
fn credentials_failure(err: &CredentialsError) -> Failure {
    let chain = err
        .source()
        .and_then(|source| source.downcast_ref::<ProviderChainError<CredentialsError>>());
    let Some(chain) = chain else {
        // A link failed hard (a broken profile, a web identity file that
        // STS refused): the chain stops there.
        if imds_failed(err) {
            return Failure::Metadata {
                detail: one_line(err),
            };
        }
        return Failure::CredentialsFailed {
            message: one_line(err),
        };
    };
    let imds = chain
        .attempts()
        .iter()
        .find(|attempt| imds_failed(attempt.error()));
    if let Some(imds) = imds {
        return Failure::Metadata {
            detail: link_said(imds.error()),
        };
    }
    let tried = chain
        .attempts()
        .iter()
        .map(|attempt| format!("{}: {}", attempt.name(), link_said(attempt.error())))
        .collect::<Vec<_>>()
        .join("; ");
    Failure::NoCredentials { tried }
}

/// What a link of the chain said, without the chain's boilerplate.
fn link_said(err: &CredentialsError) -> String {
    let text = one_line(err);
    let text = text
        .strip_prefix("the credential provider was not enabled")
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or(&text);
    if text.is_empty() {
        "not configured".to_string()
    } else {
        text.to_string()
    }
}

/// Runs one AWS call and classifies its failure.
async fn call<T, E, R>(
    step: Step,
    region: &str,
    subject: &Option<String>,
    request: impl Future<Output = Result<T, aws_sdk_ecr::error::SdkError<E, R>>>,
) -> Result<T, Failure>
where
    E: aws_sdk_ecr::error::ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    // The SDK's own operation timeout bounds the call; this is a backstop.
    let bounded = tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(1), request).await;
    let result = bounded.map_err(|_| Failure::TimedOut {
        what: match step {
            Step::WebIdentity | Step::AssumeRole => "the STS request",
            Step::PrivateToken | Step::PublicToken => "the ECR token request",
        },
        after: CALL_TIMEOUT,
    })?;
    result.map_err(|err| match classify(err) {
        EcrError::Api { kind, message } => Failure::Aws {
            step,
            kind,
            region: region.to_string(),
            subject: subject.clone(),
            message,
        },
        other => Failure::BadToken {
            reason: other.to_string(),
        },
    })
}

/// STS's temporary credentials as SDK credentials.
fn temporary_credentials(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    step: Step,
    region: &str,
) -> Result<Credentials, Failure> {
    let credentials = credentials.ok_or_else(|| Failure::Aws {
        step,
        kind: AwsFailure::Other,
        region: region.to_string(),
        subject: None,
        message: "STS answered without credentials".into(),
    })?;
    let expiry = SystemTime::try_from(*credentials.expiration()).ok();
    Ok(Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        expiry,
        "sts",
    ))
}
