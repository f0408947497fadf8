//! `--check` and `--dry-run`: the read-only modes a new user runs first.
//! They print to stdout, for a person; logs still go to stderr.

use super::config::Supply;
use super::cycle::{CycleReport, Disposition, EnvironmentReport, NamespaceReport, Updater};
use super::kubernetes::serve::NamespaceOutcome;
use super::rancher::Registry;
use super::reconcile::{self, Assessment, Change, NEW_ID};
use crate::aws::EcrToken;
use crate::exit::Exit;
use crate::image::ImageRef;
use crate::pull_check::probe_pull;

/// The lines of `--check`, and whether all were fine.
struct Checklist {
    healthy: bool,
}

impl Checklist {
    fn line(&mut self, ok: bool, what: &str, detail: String) {
        self.healthy &= ok;
        let verdict = if ok { "ok  " } else { "FAIL" };
        println!("{verdict} {what}: {detail}");
    }

    fn exit(&self) -> Exit {
        Exit::from_success(self.healthy)
    }
}

/// `--check`: configuration, AWS identity, ECR token, Rancher access and
/// registry matching, each reported; non-zero exit if any is off.
pub async fn run(
    updater: &mut Updater,
    image: Option<&ImageRef>,
    ca_bundle: Option<&[u8]>,
) -> Exit {
    let mut check = Checklist { healthy: true };
    check.line(true, "configuration", "valid".into());
    let tokens = match updater.supply() {
        Supply::Discovered => {
            source_tokens(updater, &mut check).await;
            Vec::new()
        }
        Supply::Listed => listed_tokens(updater, &mut check).await,
    };
    if let Some(image) = image {
        let (ok, detail) = image_line(updater, image, &tokens, ca_bundle).await;
        check.line(ok, "image pull", detail);
    }
    if updater.reports_by_environment() {
        every_environment(updater, &mut check).await;
    } else {
        one_environment(updater, &tokens, &mut check).await;
    }
    check.exit()
}

/// Each source's identity, and a token in its home region; the other
/// regions show in the environments' lines.
async fn source_tokens(updater: &Updater, check: &mut Checklist) {
    let several = updater.sources().len() > 1;
    for (index, source) in updater.sources().iter().enumerate() {
        let what = |thing: &str| match several {
            true => format!("{thing} of source {}", source.name),
            false => thing.to_string(),
        };
        match source.tokens.caller_identity().await {
            Ok(arn) => check.line(true, &what("AWS identity"), arn),
            Err(err) => check.line(false, &what("AWS identity"), err.to_string()),
        }
        let region = updater.sources().home_region(index);
        match source.tokens.fetch_region(region).await {
            Ok(token) => check.line(
                true,
                &what("ECR token"),
                format!(
                    "{region}, for {} (expires {})",
                    token.host,
                    token.expiry_text()
                ),
            ),
            Err(err) => check.line(false, &what("ECR token"), format!("{region}: {err}")),
        }
    }
}

/// Every environment, as a dry-run cycle sees it (nothing is written).
async fn every_environment(updater: &mut Updater, check: &mut Checklist) {
    let cycle = updater.refresh().await;
    for failure in &cycle.failures {
        check.line(false, "Rancher environments", failure.to_string());
    }
    for environment in &cycle.environments {
        let what = format!(
            "environment {} ({}, {})",
            environment.label(),
            environment.name.as_deref().unwrap_or("?"),
            environment.orchestration.as_deref().unwrap_or("?")
        );
        let (ok, detail) = environment_verdict(environment);
        check.line(ok, &what, detail);
    }
    for (target, namespace) in cycle.namespaces() {
        let what = format!("namespace {target}/{}", namespace.namespace);
        let (ok, detail) = namespace_verdict(namespace);
        check.line(ok, &what, detail);
    }
}

/// A namespace's line in `--check`: what would be written there (never
/// the token), or what is wrong.
fn namespace_verdict(namespace: &NamespaceReport) -> (bool, String) {
    let hosts: Vec<&str> = namespace.hosts.iter().map(|h| h.as_str()).collect();
    match &namespace.outcome {
        NamespaceOutcome::Served { changes } | NamespaceOutcome::Planned { changes } => {
            let hosts = hosts.join(", ");
            match changes.is_empty() {
                true => (true, format!("up to date, for {hosts}")),
                false => (true, format!("would {}, for {hosts}", changes.join(", "))),
            }
        }
        other => (
            false,
            namespace.reason().unwrap_or_else(|| format!("{other:?}")),
        ),
    }
}

/// The one environment of CATTLE_URL: reachable, and which registry each
/// listed token goes into.
async fn one_environment(updater: &Updater, tokens: &[EcrToken], check: &mut Checklist) {
    let Some(target) = updater.first_rancher() else {
        return;
    };
    let rancher = target.rancher();
    let endpoints = match rancher.discover().await {
        Ok(endpoints) => {
            let environment = endpoints.environment_id.as_deref().unwrap_or("unknown");
            let detail = format!("reachable, environment {environment}");
            check.line(true, "Rancher API", detail);
            endpoints
        }
        Err(err) => return check.line(false, "Rancher API", err.to_string()),
    };
    let registries = match rancher.list_registries(&endpoints).await {
        Ok(registries) => registries,
        Err(err) => return check.line(false, "Rancher registries", err.to_string()),
    };
    let policy = &updater.policy();
    let ids = |list: &[&Registry]| {
        list.iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for token in tokens {
        let host = reconcile::target_host(policy, token);
        let (ok, detail) = match reconcile::assess(&host, &registries, policy) {
            Assessment::Write(live) => (true, format!("{host} matches {}", ids(&live))),
            Assessment::OnlyInactive(dormant) => (
                false,
                format!(
                    "{host}: only deactivated registries ({}) match: activate one",
                    ids(&dormant)
                ),
            ),
            Assessment::Create => (
                true,
                format!("{host}: none yet; AUTO_CREATE will create it"),
            ),
            Assessment::NoMatch => (
                false,
                format!(
                    "no registry has the address {host}: add it in Rancher (Infrastructure > \
                     Registries) or set AUTO_CREATE=true"
                ),
            ),
        };
        check.line(ok, "registry", detail);
    }
}

/// The listed registries' tokens, each reported.
async fn listed_tokens(updater: &Updater, check: &mut Checklist) -> Vec<EcrToken> {
    match updater.token_source().caller_identity().await {
        Ok(arn) => check.line(true, "AWS identity", arn),
        Err(err) => check.line(false, "AWS identity", err.to_string()),
    }
    match updater.token_source().fetch().await {
        Ok(fetched) => {
            for token in &fetched.tokens {
                let detail = format!("{} (expires {})", token.host, token.expiry_text());
                check.line(true, "ECR token", detail);
            }
            for err in &fetched.malformed {
                check.line(false, "ECR token", err.to_string());
            }
            fetched.tokens
        }
        Err(err) => {
            check.line(false, "ECR token", err.to_string());
            Vec::new()
        }
    }
}

/// `--check-image`: the manifest request with the token for the image's
/// registry, which must be one this daemon writes.
async fn image_line(
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
    let result = probe_pull(image, &token.username, &token.password, &region, ca_bundle).await;
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
    for (target, namespace) in report.namespaces() {
        let ns = &namespace.namespace;
        match &namespace.outcome {
            NamespaceOutcome::Planned { changes } if !changes.is_empty() => {
                println!("would {} in namespace {target}/{ns}", changes.join(", "))
            }
            NamespaceOutcome::Planned { .. } | NamespaceOutcome::Served { .. } => {}
            _ => println!(
                "nothing to do in namespace {target}/{ns}: {}",
                namespace.reason().unwrap_or_default()
            ),
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
