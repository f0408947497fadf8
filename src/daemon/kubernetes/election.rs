//! The leader election's task: reads the Lease every retry period, writes
//! what [`lease::Elector`](super::lease::Elector) decides (create, renew,
//! take over, each guarded by the `resourceVersion` read), and publishes
//! where this replica stands ([`Standing`]) for the refresh loop and
//! `/healthz`.
//!
//! The refresh loop starts only once this replica leads, and the daemon
//! exits (status 3, `Exit::LostLeadership`) as soon as it stops leading: a
//! replica that lost the Lease may still have writes in flight or watches
//! running, and ending the process is the one way to be sure none of them
//! writes once another replica leads (client-go's controllers do the same).
//! Kubernetes restarts it, and it stands by.

use std::time::SystemTime;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::client::{Connection, REQUEST_TIMEOUT};
use super::error::KubeError;
use super::kubeconfig::KubeconfigProblem;
use super::lease::{Elector, LeaseRecord, ReadLease, Step, Timings};
use super::LeaderElection;
use crate::printable::printable;

/// Where this replica stands in the election, as last found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// This replica's identity (`POD_NAME`, else the host name).
    pub identity: String,
    pub leading: bool,
    /// Who holds the Lease, as last read.
    pub holder: Option<String>,
    /// Whether the Lease was read within the last lease duration: a
    /// standby that cannot reach the API server could not take over.
    pub reachable: bool,
    /// Why the last round failed, if it did.
    pub error: Option<String>,
}

/// The refresh loop's and `/healthz`'s view of the election.
#[derive(Debug, Clone)]
pub struct Leadership {
    standing: watch::Receiver<Standing>,
}

impl Leadership {
    pub fn standing(&self) -> Standing {
        self.standing.borrow().clone()
    }

    /// Returns once this replica leads.
    pub async fn until_leading(&mut self) {
        let _ = self.standing.wait_for(|s| s.leading).await;
    }

    /// Returns once this replica no longer leads.
    pub async fn until_lost(&mut self) {
        let _ = self.standing.wait_for(|s| !s.leading).await;
    }
}

/// The identity a replica campaigns under: `POD_NAME` (the Downward API),
/// else the host name.
pub fn identity() -> String {
    let named = |value: Option<String>| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    named(std::env::var("POD_NAME").ok())
        .or_else(|| named(std::fs::read_to_string("/proc/sys/kernel/hostname").ok()))
        .or_else(|| named(std::env::var("HOSTNAME").ok()))
        .unwrap_or_else(|| "rancher-ecr-credentials".to_string())
}

/// Checks the election's kubeconfig (a configuration error names it) and
/// starts campaigning as `identity`. No request is made before the task
/// runs.
pub fn start(settings: &LeaderElection, identity: String) -> Result<Leadership, KubeconfigProblem> {
    let connection =
        Connection::prepare(settings.kubeconfig.as_deref(), settings.context.as_deref())?;
    let (sender, standing) = watch::channel(Standing {
        identity: identity.clone(),
        leading: false,
        holder: None,
        reachable: false,
        error: None,
    });
    let timings = Timings::from_lease_duration(settings.lease_duration);
    let campaign = Campaign {
        connection,
        namespace: settings.namespace.clone(),
        name: settings.lease_name.clone(),
        elector: Elector::new(identity, timings),
        sender,
    };
    tokio::spawn(campaign.run());
    Ok(Leadership { standing })
}

struct Campaign {
    connection: Connection,
    namespace: String,
    name: String,
    elector: Elector,
    sender: watch::Sender<Standing>,
}

impl Campaign {
    async fn run(mut self) {
        let timings = self.elector.timings();
        let mut last_read: Option<Instant> = None;
        loop {
            let round =
                tokio::time::timeout(REQUEST_TIMEOUT.min(timings.renew_deadline), self.round());
            let error = match round.await {
                Ok(Ok(())) => {
                    last_read = Some(Instant::now());
                    None
                }
                Ok(Err(err)) => Some(printable(&err.to_string())),
                Err(_) => Some(format!(
                    "the API server did not answer within {:?}",
                    timings.renew_deadline
                )),
            };
            let now = Instant::now();
            let standing = Standing {
                identity: self.elector.identity().to_string(),
                leading: self.elector.leads(now),
                holder: self.elector.holder().map(str::to_string),
                reachable: last_read
                    .is_some_and(|at| now.duration_since(at) < timings.lease_duration),
                error,
            };
            self.sender.send_if_modified(|old| {
                let changed = *old != standing;
                *old = standing;
                changed
            });
            // A standby's reads are spread a little, so that replicas
            // started together do not ask in step.
            let pause = match self.elector.leads(now) {
                true => timings.retry_period,
                false => timings.retry_period.mul_f64(1.0 + 0.2 * fastrand::f64()),
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// One read of the Lease, and the write it calls for.
    async fn round(&mut self) -> Result<(), KubeError> {
        let client = self.connection.client().await?;
        let api: Api<Lease> = Api::namespaced(client, &self.namespace);
        let found = (api.get_opt(&self.name).await).map_err(|err| {
            KubeError::new(
                format!("reading Lease {}/{}", self.namespace, self.name),
                &err,
            )
        })?;
        let read = found.as_ref().map(read_lease);
        let step = self
            .elector
            .step(read.as_ref(), Instant::now(), SystemTime::now());
        let params = PostParams {
            field_manager: Some("rancher-ecr-credentials".into()),
            ..PostParams::default()
        };
        let (written, record) = match step {
            Step::Wait { .. } => return Ok(()),
            Step::Create(record) => {
                let lease = self.lease(&record, None)?;
                (api.create(&params, &lease).await, record)
            }
            Step::Update {
                resource_version,
                record,
            } => {
                let lease = self.lease(&record, Some(resource_version))?;
                (api.replace(&self.name, &params, &lease).await, record)
            }
        };
        match written {
            Ok(_) => {
                self.elector.written(record, Instant::now());
                Ok(())
            }
            // Another replica wrote first: it leads; read again next round.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.elector.conflicted();
                Ok(())
            }
            Err(err) => Err(KubeError::new(
                format!("writing Lease {}/{}", self.namespace, self.name),
                &err,
            )),
        }
    }

    /// The Lease object to write.
    fn lease(
        &self,
        record: &LeaseRecord,
        resource_version: Option<String>,
    ) -> Result<Lease, KubeError> {
        let mut metadata = json!({"name": self.name, "namespace": self.namespace});
        if let Some(version) = resource_version {
            metadata["resourceVersion"] = json!(version);
        }
        let object = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": record.holder,
                "leaseDurationSeconds": record.lease_duration_seconds,
                "acquireTime": record.acquire_time,
                "renewTime": record.renew_time,
                "leaseTransitions": record.transitions,
            },
        });
        serde_json::from_value(object).map_err(|err| KubeError {
            doing: "writing the Lease".into(),
            status: None,
            detail: err.to_string(),
        })
    }
}

/// A Lease as the state machine reads it (times as the server wrote them).
fn read_lease(lease: &Lease) -> ReadLease {
    let spec = serde_json::to_value(&lease.spec).unwrap_or(Value::Null);
    let text = |key: &str| spec[key].as_str().map(str::to_string);
    let number = |key: &str| {
        spec[key]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0)
    };
    ReadLease {
        record: LeaseRecord {
            holder: text("holderIdentity"),
            lease_duration_seconds: number("leaseDurationSeconds"),
            acquire_time: text("acquireTime"),
            renew_time: text("renewTime"),
            transitions: number("leaseTransitions"),
        },
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}
