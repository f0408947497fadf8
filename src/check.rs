//! `--check` and `--dry-run`: the read-only modes a new user runs first.
//! They print to stdout, for a person; logs still go to stderr.

use crate::config::Supply;
use crate::cycle::{CycleReport, Disposition, EnvironmentReport, Updater};
use crate::ecr::EcrToken;
use crate::exit::Exit;
use crate::kubelet;
use crate::kubelet::image::ImageRef;
use crate::rancher::Registry;
use crate::reconcile::{self, Assessment, Change, NEW_ID};

/// `--check`: configuration, AWS identity, ECR token, Rancher access and
/// registry matching, each reported; non-zero exit if any is off.
pub async fn run(
    updater: &mut Updater,
    image: Option<&ImageRef>,
    ca_bundle: Option<&[u8]>,
) -> Exit {
    let mut healthy = true;
    let mut report = |ok: bool, what: &str, detail: String| {
        healthy &= ok;
        let verdict = if ok { "ok  " } else { "FAIL" };
        println!("{verdict} {what}: {detail}");
    };
    report(true, "configuration", "valid".into());

    if updater.supply() == Supply::Discovered {
        // Each source's identity, and a token in its home region; the
        // other regions show in the environments' lines below.
        let several = updater.sources().len() > 1;
        for (index, source) in updater.sources().iter().enumerate() {
            let what = |thing: &str| match several {
                true => format!("{thing} of source {}", source.name),
                false => thing.to_string(),
            };
            match source.tokens.caller_identity().await {
                Ok(arn) => report(true, &what("AWS identity"), arn),
                Err(err) => report(false, &what("AWS identity"), err.to_string()),
            }
            let region = updater.sources().home_region(index);
            match source.tokens.fetch_region(region).await {
                Ok(token) => report(
                    true,
                    &what("ECR token"),
                    format!("{region}, for {} (expires {})", token.host, expiry(&token)),
                ),
                Err(err) => report(false, &what("ECR token"), format!("{region}: {err}")),
            }
        }
    }
    let tokens = match updater.supply() {
        Supply::Discovered => Vec::new(),
        Supply::Listed => listed_tokens(updater, &mut report).await,
    };
    if let Some(image) = image {
        let (ok, detail) = check_image(updater, image, &tokens, ca_bundle).await;
        report(ok, "image pull", detail);
    }
    if updater.reports_by_environment() {
        // Every environment, as a dry-run cycle sees it (nothing is written).
        let cycle = updater.refresh().await;
        for failure in &cycle.failures {
            report(false, "Rancher environments", failure.to_string());
        }
        for environment in &cycle.environments {
            let what = format!(
                "environment {} ({}, {})",
                environment.label(),
                environment.name.as_deref().unwrap_or("?"),
                environment.orchestration.as_deref().unwrap_or("?")
            );
            let (ok, detail) = environment_verdict(environment);
            report(ok, &what, detail);
        }
        return Exit::from_success(healthy);
    }
    let rancher = updater.rancher();
    let endpoints = match rancher.discover().await {
        Ok(endpoints) => {
            let environment = endpoints.environment_id.as_deref().unwrap_or("unknown");
            report(
                true,
                "Rancher API",
                format!("reachable, environment {environment}"),
            );
            endpoints
        }
        Err(err) => {
            report(false, "Rancher API", err.to_string());
            return Exit::Failure;
        }
    };
    let registries = match rancher.list_registries(&endpoints).await {
        Ok(registries) => registries,
        Err(err) => {
            report(false, "Rancher registries", err.to_string());
            return Exit::Failure;
        }
    };
    let policy = &updater.policy();
    let ids = |list: &[&Registry]| {
        list.iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for token in &tokens {
        let host = reconcile::target_host(policy, token);
        match reconcile::assess(&host, &registries, policy) {
            Assessment::Write(live) => {
                report(true, "registry", format!("{host} matches {}", ids(&live)))
            }
            Assessment::OnlyInactive(dormant) => report(
                false,
                "registry",
                format!(
                    "{host}: only deactivated registries ({}) match: activate one",
                    ids(&dormant)
                ),
            ),
            Assessment::Create => report(
                true,
                "registry",
                format!("{host}: none yet; AUTO_CREATE will create it"),
            ),
            Assessment::NoMatch => report(
                false,
                "registry",
                format!(
                    "no registry has the address {host}: add it in Rancher (Infrastructure > \
                     Registries) or set AUTO_CREATE=true"
                ),
            ),
        }
    }
    Exit::from_success(healthy)
}

/// The listed registries' tokens, each reported.
async fn listed_tokens(
    updater: &Updater,
    report: &mut impl FnMut(bool, &str, String),
) -> Vec<EcrToken> {
    match updater.token_source().caller_identity().await {
        Ok(arn) => report(true, "AWS identity", arn),
        Err(err) => report(false, "AWS identity", err.to_string()),
    }
    match updater.token_source().fetch().await {
        Ok(fetched) => {
            for token in &fetched.tokens {
                report(
                    true,
                    "ECR token",
                    format!("{} (expires {})", token.host, expiry(token)),
                );
            }
            for err in &fetched.malformed {
                report(false, "ECR token", err.to_string());
            }
            fetched.tokens
        }
        Err(err) => {
            report(false, "ECR token", err.to_string());
            Vec::new()
        }
    }
}

fn expiry(token: &EcrToken) -> String {
    token
        .expires_at
        .map(|at| humantime::format_rfc3339_seconds(at).to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `--check-image`: the manifest request with the token for the image's
/// registry, which must be one this daemon writes.
async fn check_image(
    updater: &Updater,
    image: &ImageRef,
    tokens: &[EcrToken],
    ca_bundle: Option<&[u8]>,
) -> (bool, String) {
    let policy = &updater.policy();
    let claimed = match updater.supply() {
        Supply::Discovered => updater.claimed_token(&image.host).await,
        Supply::Listed => None,
    };
    let listed = tokens
        .iter()
        .find(|token| reconcile::target_host(policy, token) == image.host)
        .map(|token| Ok((token.clone(), updater.token_source().region().to_string())));
    let found = match claimed.or(listed) {
        Some(Ok(found)) => Some(found),
        Some(Err(failure)) => return (false, failure.to_string()),
        None => None,
    };
    let Some((token, region)) = found else {
        let served: Vec<String> = tokens
            .iter()
            .map(|token| reconcile::target_host(policy, token).to_string())
            .collect();
        let served = match updater.supply() {
            Supply::Discovered => "the ECR hosts its sources claim".to_string(),
            Supply::Listed if served.is_empty() => "none yet".to_string(),
            Supply::Listed => served.join(", "),
        };
        return (
            false,
            format!(
                "{} is not a registry this daemon writes (it writes {served}); check the \
                 image with `kubelet-credential-provider --check-image` instead",
                image.registry,
            ),
        );
    };
    let result = kubelet::check_image::check_image(
        image,
        &token.username,
        &token.password,
        &region,
        ca_bundle,
    )
    .await;
    (result.pullable, result.summary)
}

/// An environment's line in `--check`: fine, or what is wrong.
fn environment_verdict(environment: &EnvironmentReport) -> (bool, String) {
    match &environment.disposition {
        Disposition::Skipped { reason, named } => (!named, format!("skipped: {reason}")),
        Disposition::Late => (false, "still busy from an earlier cycle".to_string()),
        Disposition::Served => {
            let mut problems: Vec<String> =
                environment.failures.iter().map(|f| f.to_string()).collect();
            for outcome in &environment.outcomes {
                problems.extend(
                    outcome
                        .problems
                        .iter()
                        .map(|p| format!("{}: {p}", outcome.host)),
                );
            }
            if problems.is_empty() {
                let hosts: Vec<&str> = environment
                    .outcomes
                    .iter()
                    .map(|o| o.host.as_str())
                    .collect();
                if hosts.is_empty() {
                    return (
                        true,
                        "writable; no ECR registry here that a source serves".to_string(),
                    );
                }
                (true, format!("writable; would write {}", hosts.join(", ")))
            } else {
                (false, problems.join("; "))
            }
        }
    }
}

/// `--dry-run`: what a cycle would write.
pub fn print_plan(report: &CycleReport) {
    for failure in report.all_failures() {
        println!("cannot plan: {failure}");
    }
    for environment in &report.environments {
        if let Disposition::Skipped { reason, .. } = &environment.disposition {
            println!("skip environment {}: {reason}", environment.label());
        }
    }
    for (_, outcome) in report.outcomes() {
        for change in &outcome.changes {
            let line = match change {
                Change::Updated {
                    registry_id,
                    credential_id,
                } => format!("update credential {credential_id} of registry {registry_id}"),
                Change::CreatedCredential { registry_id, .. } => {
                    format!("create a credential in registry {registry_id}")
                }
                Change::CreatedRegistry { .. } => {
                    format!(
                        "create registry {} ({NEW_ID}) and its credential",
                        outcome.host
                    )
                }
            };
            println!("would {line} for {}", outcome.host);
        }
        for problem in &outcome.problems {
            println!("nothing to do for {}: {problem}", outcome.host);
        }
    }
}
