//! AWS failures: why no token could be had, classified coarsely enough to
//! act on and to count ([`AwsFailure`]), and worded from `Display` texts
//! only. Never `Debug` (nor the SDK's `DisplayErrorContext`, which appends
//! it): that shows the raw response, and a response that failed to parse
//! can hold a token or a temporary secret key.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

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
    /// The token was not asked for at all (a limit of the caller).
    #[error("no token asked for: {reason}")]
    NotAsked { reason: String },
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
    /// AWS answered with a server error (5xx, `ServerException`).
    Unavailable,
    Other,
}

impl EcrError {
    /// Whether the failure may pass by itself soon: throttling, an
    /// unreachable endpoint or metadata service, a server error.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EcrError::Api {
                kind: AwsFailure::Throttled
                    | AwsFailure::Unreachable
                    | AwsFailure::Metadata
                    | AwsFailure::Unavailable,
                ..
            }
        )
    }

    /// A short cause label, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            EcrError::Api { kind, .. } => kind.label(),
            EcrError::MalformedToken { .. } | EcrError::NoAuthorizationData => "aws_bad_token",
            EcrError::NotAsked { .. } => "aws_not_asked",
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
            AwsFailure::Unavailable => "aws_unavailable",
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
            AwsFailure::Unavailable => "; AWS had a server error, retrying later",
            AwsFailure::Other => "",
        }
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

pub fn classify<E, R>(err: SdkError<E, R>) -> EcrError
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
            Some(
                "ServerException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "InternalFailure"
                | "InternalError",
            ) => AwsFailure::Unavailable,
            _ if server_error(err.raw_response()) => AwsFailure::Unavailable,
            _ => AwsFailure::Other,
        },
        _ => AwsFailure::Other,
    };
    EcrError::Api {
        kind,
        message: describe(&err),
    }
}

/// Whether `raw` is an HTTP response with a 5xx status.
fn server_error<R: 'static>(raw: Option<&R>) -> bool {
    let raw = raw.map(|raw| raw as &dyn std::any::Any);
    raw.and_then(|raw| raw.downcast_ref::<HttpResponse>())
        .is_some_and(|response| response.status().is_server_error())
}

/// Whether the credential chain failed at IMDS. aws-config reports a token
/// request that got no answer (the hop-limit symptom) with a private error
/// type, listed inside the chain's own message, so that case is known by its
/// fixed text; other IMDS failures carry the public `ImdsError`.
pub fn imds_failed(err: &(dyn std::error::Error + 'static)) -> bool {
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

/// An error and its causes on one line, from `Display` only (a cause
/// already said by the text before it is not repeated).
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
    one_line(err)
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecr::error::ErrorMetadata;
    use aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn answered(status: u16, code: Option<&str>) -> EcrError {
        let mut meta = ErrorMetadata::builder().message("it failed");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let error = GetAuthorizationTokenError::generic(meta.build());
        let status = StatusCode::try_from(status).unwrap();
        classify(SdkError::service_error(
            error,
            HttpResponse::new(status, SdkBody::empty()),
        ))
    }

    #[test]
    fn a_server_error_is_transient_and_says_so() {
        for (status, code) in [
            (500, Some("ServerException")),
            (503, Some("ServiceUnavailableException")),
            (502, None),
            (504, Some("SomethingNew")),
        ] {
            let error = answered(status, code);
            assert!(error.is_transient(), "{status} {code:?}: {error}");
            assert_eq!(error.label(), "aws_unavailable");
        }
        let denied = answered(400, Some("AccessDeniedException"));
        assert!(!denied.is_transient());
        assert_eq!(denied.label(), "aws_auth");
        let invalid = answered(400, Some("InvalidParameterException"));
        assert!(!invalid.is_transient());
        assert_eq!(invalid.label(), "aws_error");
    }
}
