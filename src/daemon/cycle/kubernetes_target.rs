//! The Kubernetes target kind: one cluster, the pull Secret kept in each
//! namespace it serves, and what it holds between cycles.
//!
//! A cycle takes the tokens of the target's sources from the cycle's
//! tokens (the same `GetAuthorizationToken` answers every other target
//! uses: one per source and region), renders the Secret once, lists the
//! namespaces and serves each served one (a bounded number at once) with
//! that Secret: see `daemon::kubernetes::serve`. A token that cannot be had
//! writes nothing: the Secrets in place still hold the last tokens, valid
//! until they expire, and the cycle is retried with backoff.
//!
//! After its first listing the target keeps the rendered Secret and starts
//! its watches (`daemon::kubernetes::watch`), which serve namespaces and
//! ServiceAccounts that appear later, and our Secret deleted or changed,
//! within seconds and with the Secret already held: no ECR call.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use super::cluster_report::{ClusterReport, NamespaceReport};
use super::rancher_target::Fetch;
use super::report::{CycleFailure, CycleReport};
use crate::aws::EcrToken;
use crate::daemon::kubernetes::client::Connection;
use crate::daemon::kubernetes::cluster::list_namespaces;
use crate::daemon::kubernetes::pull_secret::{Login, PullSecret};
use crate::daemon::kubernetes::serve::{serve_namespace, NamespaceOutcome, Work};
use crate::daemon::kubernetes::watch::{Held, Watches};
use crate::daemon::kubernetes::KubernetesSettings;
use crate::daemon::reconcile::Policy;
use crate::daemon::sources::{own_hosts, Claim, CycleTokens};
use crate::ecr_host::EcrHost;
use crate::registry_host::RegistryHost;

/// Namespaces served at once by a cycle: each is a few short requests.
pub const CONCURRENT_NAMESPACES: usize = 8;

/// One cluster and what the updater knows of it between cycles.
pub struct KubernetesTarget {
    connection: Connection,
    settings: Arc<KubernetesSettings>,
    /// The sources whose tokens go here (indexes into the sources).
    sources: Arc<[usize]>,
    /// Names the target in reports, `/healthz` and metrics.
    label: String,
    /// Whether to watch between cycles (the daemon; not the one-shot modes).
    watching: bool,
    /// The Secret of the last cycle, for the watches.
    held: Arc<Held>,
    watches: Option<Watches>,
}

impl KubernetesTarget {
    /// No network call happens here.
    pub fn new(
        connection: Connection,
        settings: KubernetesSettings,
        sources: Vec<usize>,
        label: String,
        watching: bool,
    ) -> KubernetesTarget {
        KubernetesTarget {
            connection,
            settings: Arc::new(settings),
            sources: sources.into(),
            label,
            watching,
            held: Arc::default(),
            watches: None,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// One cycle in this cluster.
    pub async fn refresh(&mut self, fetch: Fetch<'_>, policy: &Policy) -> CycleReport {
        let mut report = CycleReport::default();
        let failure = |error| CycleFailure::Kubernetes {
            target: self.label.clone(),
            error,
        };
        let Fetch::Claimed(cycle) = fetch else {
            // Kubernetes targets come from the config file, whose tokens
            // are always claimed; nothing else reaches here.
            return report;
        };
        let (wanted, client) = tokio::join!(
            wanted_secret(&cycle, &self.sources),
            self.connection.client()
        );
        let wanted = match wanted {
            Ok(wanted) => Arc::new(wanted),
            Err(failures) => {
                report.failures.extend(failures);
                return report;
            }
        };
        let client = match client {
            Ok(client) => client,
            Err(err) => {
                report.failures.push(failure(err));
                return report;
            }
        };
        let namespaces = match list_namespaces(&client).await {
            Ok(namespaces) => namespaces,
            Err(err) => {
                report.failures.push(failure(err));
                return report;
            }
        };
        let served: Vec<String> = namespaces
            .into_iter()
            .filter(|ns| !ns.terminating && self.settings.namespaces.serves(&ns.name, &ns.labels))
            .map(|ns| ns.name)
            .collect();
        let work = Work {
            client: &client,
            secret_name: &self.settings.secret_name,
            service_accounts: &self.settings.service_accounts,
            dry_run: policy.dry_run,
        };
        let served_set: HashSet<String> = served.iter().cloned().collect();
        let outcomes = serve_all(work, served, &wanted).await;
        report.clusters.push(ClusterReport {
            target: self.label.clone(),
            namespaces: outcomes,
        });
        if !policy.dry_run {
            self.held.hold(wanted);
            if self.watching && self.watches.is_none() {
                self.watches = Some(Watches::start(
                    client,
                    self.settings.clone(),
                    self.label.clone(),
                    self.held.clone(),
                    served_set,
                ));
            }
        }
        report
    }
}

/// Serves every namespace of `served`, a bounded number at once; those
/// found being deleted are left out.
async fn serve_all(
    work: Work<'_>,
    served: Vec<String>,
    wanted: &PullSecret,
) -> Vec<NamespaceReport> {
    let mut outcomes: Vec<NamespaceReport> = stream::iter(served)
        .map(|namespace| async move {
            let outcome = serve_namespace(work, &namespace, wanted).await;
            NamespaceReport {
                namespace,
                outcome,
                hosts: wanted.hosts.clone(),
                expires_at: wanted.expires_at,
            }
        })
        .buffer_unordered(CONCURRENT_NAMESPACES)
        .filter(|report| std::future::ready(report.outcome != NamespaceOutcome::Terminating))
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    outcomes
}

/// The Secret of this cycle: a login for every host of the target's
/// sources (each source's accounts in its region, or its own registry,
/// and its aliases), each with the token of the source that claims it.
/// Any token that cannot be had is a failure, and nothing is rendered.
async fn wanted_secret(
    cycle: &CycleTokens,
    allowed: &[usize],
) -> Result<PullSecret, Vec<CycleFailure>> {
    let sources = cycle.sources();
    let mut hosts: Vec<RegistryHost> = Vec::new();
    let mut failures = Vec::new();
    for &index in allowed {
        let source = sources.get(index);
        let key = crate::daemon::sources::TokenKey {
            source: index,
            region: sources.home_region(index).to_string(),
        };
        match cycle.get(&key).await {
            Ok(token) => hosts.extend(own_hosts(&token, &source.accounts)),
            Err(failure) => failures.push(CycleFailure::Token(failure)),
        }
        let aliases = source.aliases.iter();
        let private = aliases.filter(|(_, ecr)| matches!(ecr, EcrHost::Private(_)));
        hosts.extend(private.map(|(alias, _)| alias.clone()));
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let mut logins: Vec<(RegistryHost, EcrToken)> = Vec::new();
    for host in hosts {
        if logins.iter().any(|(known, _)| *known == host) {
            continue;
        }
        let Claim::Token(key) = sources.claim(&host, allowed) else {
            continue;
        };
        match cycle.get(&key).await {
            Ok(token) => logins.push((host, token)),
            Err(failure) => failures.push(CycleFailure::Token(failure)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let logins: Vec<Login<'_>> = logins
        .iter()
        .map(|(host, token)| Login::new(host, token))
        .collect();
    Ok(PullSecret::render(&logins))
}
