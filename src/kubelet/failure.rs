//! Every way a run can fail, each as the one stderr line the kubelet logs:
//! the cause first, then the fix. This is the only place those messages
//! are worded; docs/kubelet-credential-provider.md ("Troubleshooting")
//! quotes them.
//!
//! Messages are built from `Display` texts only (never `Debug`, which can
//! show a raw AWS response), and never from a token or a secret key.

use std::fmt;
use std::time::Duration;

use crate::aws::AwsFailure;
use crate::exit::Exit;

/// Which AWS call a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// STS AssumeRoleWithWebIdentity with the pod's service-account token.
    WebIdentity,
    /// STS AssumeRole for a `[[source]]` role.
    AssumeRole,
    /// ECR GetAuthorizationToken.
    PrivateToken,
    /// ECR Public GetAuthorizationToken.
    PublicToken,
}

impl Step {
    fn operation(self) -> &'static str {
        match self {
            Step::WebIdentity => "sts:AssumeRoleWithWebIdentity",
            Step::AssumeRole => "sts:AssumeRole",
            Step::PrivateToken => "ecr:GetAuthorizationToken",
            Step::PublicToken => "ecr-public:GetAuthorizationToken",
        }
    }

    fn service(self) -> &'static str {
        match self {
            Step::WebIdentity | Step::AssumeRole => "STS",
            Step::PrivateToken => "ECR",
            Step::PublicToken => "ECR Public",
        }
    }
}

/// Why no response was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request on stdin (or the image in it) is unusable.
    BadRequest { reason: String },
    /// `--config`, a flag, or an annotation holds something unusable.
    Config { reason: String },
    /// Not an ECR host and no alias in `--config`: no token goes to it.
    NotServed { host: String },
    /// The credential chain found nothing; `tried` lists each link and
    /// what it said.
    NoCredentials { tried: String },
    /// A link of the credential chain failed outright (a broken profile, a
    /// web identity token file STS refused).
    CredentialsFailed { message: String },
    /// The instance metadata service (the chain's last link) did not answer.
    Metadata { detail: String },
    /// An AWS call failed.
    Aws {
        step: Step,
        kind: AwsFailure,
        region: String,
        /// Extra context: the role ARN for STS steps.
        subject: Option<String>,
        message: String,
    },
    /// ECR answered with a token this provider cannot use.
    BadToken { reason: String },
    /// A step did not finish in its time.
    TimedOut { what: &'static str, after: Duration },
}

impl Failure {
    /// The process exit status for this failure: a bad `--config` file or
    /// flag is a configuration error, as in the daemon; the rest failures.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Config { .. } => Exit::Config,
            _ => Exit::Failure,
        }
    }
}

const FIX_CREDENTIALS: &str = "give the node an IAM role (instance profile), or set \
     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the provider's env";

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadRequest { reason } => write!(f, "bad request: {reason}"),
            Failure::Config { reason } => write!(f, "configuration error: {reason}"),
            Failure::NotServed { host } => write!(
                f,
                "no ECR token for {host}: it is not an ECR registry host and no alias in \
                 --config names it, and an ECR token goes only to ECR hosts and their aliases; \
                 for a pull-through mirror or another name of an ECR registry, add it to a \
                 [[source]]'s aliases in --config (aliases = {{ \"{host}\" = \
                 \"ACCOUNT.dkr.ecr.REGION.amazonaws.com\" }}), otherwise keep it out of the \
                 provider's matchImages"
            ),
            Failure::NoCredentials { tried } => write!(
                f,
                "no AWS credentials found (tried {tried}): {FIX_CREDENTIALS}"
            ),
            Failure::CredentialsFailed { message } => write!(
                f,
                "the AWS credential chain failed ({message}): check the credential settings \
                 in the provider's env (AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE with \
                 AWS_ROLE_ARN, AWS_CONTAINER_CREDENTIALS_FULL_URI)"
            ),
            Failure::Metadata { detail } => write!(
                f,
                "the EC2 instance metadata service (IMDS) did not answer ({detail}): on EC2, \
                 check that IMDS is enabled and, for containers, that the IMDSv2 hop limit is 2 \
                 (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2); \
                 off EC2, set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the \
                 provider's env"
            ),
            Failure::Aws {
                step,
                kind,
                region,
                subject,
                message,
            } => write_aws(f, *step, *kind, region, subject.as_deref(), message),
            Failure::BadToken { reason } => write!(
                f,
                "ECR returned an unusable token ({reason}); this is unexpected, try again"
            ),
            Failure::TimedOut { what, after } => write!(
                f,
                "{what} did not finish within {}: check the node's network path to AWS \
                 (and HTTPS_PROXY/NO_PROXY in the provider's env)",
                humantime::format_duration(*after)
            ),
        }
    }
}

/// An AWS call's failure: the cause by kind and step, then the fix.
fn write_aws(
    f: &mut fmt::Formatter<'_>,
    step: Step,
    kind: AwsFailure,
    region: &str,
    subject: Option<&str>,
    message: &str,
) -> fmt::Result {
    let operation = step.operation();
    let service = step.service();
    let subject = subject.map(|s| format!(" for {s}")).unwrap_or_default();
    match (kind, step) {
        (AwsFailure::Auth, Step::PrivateToken) => write!(
            f,
            "AWS denied {operation} in {region} ({message}): allow \
                 ecr:GetAuthorizationToken on Resource \"*\" in the IAM policy of the \
                 node's role (or of the role assumed)"
        ),
        (AwsFailure::Auth, Step::PublicToken) => write!(
            f,
            "AWS denied {operation} in {region} ({message}): allow \
                 ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken in the \
                 IAM policy of the node's role (or of the role assumed)"
        ),
        (AwsFailure::Auth, Step::WebIdentity) => write!(
            f,
            "AWS denied {operation}{subject} in {region} ({message}): the role's \
                 trust policy must allow the cluster's OIDC provider, this service \
                 account and the token's audience (tokenAttributes.serviceAccountTokenAudience)"
        ),
        (AwsFailure::Auth, Step::AssumeRole) => write!(
            f,
            "AWS denied {operation}{subject} in {region} ({message}): the node's \
                 identity needs sts:AssumeRole on the role, and the role's trust policy \
                 (and external_id) must accept it"
        ),
        (AwsFailure::Throttled, _) => write!(
            f,
            "AWS throttled {operation}{subject} in {region} even after retries \
                 ({message}): too many callers in this account and region; the kubelet \
                 caches each answer for half the token's life, so this passes, but \
                 check for other clients calling {operation} in a loop"
        ),
        (AwsFailure::Unreachable, _) => write!(
            f,
            "cannot reach the {service} endpoint for {region} ({message}): check \
                 the node's route and DNS to AWS, HTTPS_PROXY/NO_PROXY in the \
                 provider's env, or the VPC endpoint (AWS_ENDPOINT_URL_{})",
            match step {
                Step::PrivateToken => "ECR",
                Step::PublicToken => "ECR_PUBLIC",
                Step::WebIdentity | Step::AssumeRole => "STS",
            }
        ),
        (AwsFailure::Metadata, _) => write!(
            f,
            "{}",
            Failure::Metadata {
                detail: message.to_string()
            }
        ),
        (AwsFailure::Unavailable, _) => write!(
            f,
            "{operation}{subject} failed in {region} with a server error, even after \
                 retries ({message}): the kubelet asks again at the next pull"
        ),
        (AwsFailure::Other, _) => {
            write!(f, "{operation}{subject} failed in {region}: {message}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(step: Step, kind: AwsFailure) -> String {
        Failure::Aws {
            step,
            kind,
            region: "eu-west-1".into(),
            subject: Some("arn:aws:iam::111122223333:role/pull".into()),
            message: "SomeCode: text".into(),
        }
        .to_string()
    }

    #[test]
    fn each_cause_names_its_fix() {
        assert!(aws(Step::PrivateToken, AwsFailure::Auth)
            .contains("allow ecr:GetAuthorizationToken on Resource \"*\""));
        assert!(aws(Step::PublicToken, AwsFailure::Auth).contains("sts:GetServiceBearerToken"));
        assert!(aws(Step::WebIdentity, AwsFailure::Auth).contains("trust policy"));
        assert!(aws(Step::WebIdentity, AwsFailure::Auth)
            .contains("for arn:aws:iam::111122223333:role/pull"));
        assert!(aws(Step::AssumeRole, AwsFailure::Auth).contains("sts:AssumeRole on the role"));
        assert!(aws(Step::PrivateToken, AwsFailure::Throttled).contains("throttled"));
        assert!(aws(Step::PrivateToken, AwsFailure::Unreachable).contains("AWS_ENDPOINT_URL_ECR"));
        assert!(aws(Step::WebIdentity, AwsFailure::Unreachable).contains("AWS_ENDPOINT_URL_STS"));
        assert!(aws(Step::PrivateToken, AwsFailure::Metadata).contains("hop limit is 2"));
        assert!(aws(Step::PrivateToken, AwsFailure::Other).contains("SomeCode: text"));
        assert!(Failure::NoCredentials {
            tried: "Environment: not set".into()
        }
        .to_string()
        .contains("tried Environment: not set"));
        let not_served = Failure::NotServed {
            host: "mirror.example.com:5000".into(),
        }
        .to_string();
        assert!(
            not_served.starts_with("no ECR token for mirror.example.com:5000:")
                && not_served.contains("add it to a [[source]]'s aliases in --config")
                && not_served.contains("aliases = { \"mirror.example.com:5000\" = "),
            "{not_served}"
        );
        for failure in [
            Failure::NotServed {
                host: "m.example.com".into(),
            },
            Failure::TimedOut {
                what: "the ECR request",
                after: Duration::from_secs(12),
            },
            Failure::BadToken { reason: "x".into() },
        ] {
            assert!(!failure.to_string().contains('\n'));
            assert_eq!(failure.exit(), Exit::Failure);
        }
        assert_eq!(Failure::Config { reason: "x".into() }.exit(), Exit::Config);
    }
}
