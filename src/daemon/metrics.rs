//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text
//! format.
//!
//! Per registry: when its credential was last written and when its token
//! expires; for a Kubernetes target, per registry host and served
//! namespace (label `namespace`, absent for Rancher, whose series keep the
//! labels they always had), in the same families, so that one alert on
//! `time() - …_last_success_timestamp_seconds > 7h` covers both kinds. Counters of refresh cycles and of failures by cause (the causes
//! are the `label()`s of the error types, so they are counted without string
//! matching). Request durations of the AWS and Rancher calls.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// A registry's series: its host and where it is written. `environment`
/// is a Rancher environment's label, or a Kubernetes target's name;
/// `namespace` is empty (and not exported) for Rancher.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct RegistryLabels {
    pub host: String,
    pub environment: String,
    pub namespace: String,
}

impl EncodeLabelSet for RegistryLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("host", self.host.as_str()).encode(encoder.encode_label())?;
        ("environment", self.environment.as_str()).encode(encoder.encode_label())?;
        if !self.namespace.is_empty() {
            ("namespace", self.namespace.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

type TimestampGauge = Gauge<f64, AtomicU64>;

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    last_success: Family<RegistryLabels, TimestampGauge>,
    token_expiry: Family<RegistryLabels, TimestampGauge>,
    cycles: Counter,
    /// Connections the health listener closed at once, being full.
    refused: Counter,
    environments: Family<StateLabels, Gauge>,
    failures: Family<CauseLabels, Counter>,
    aws_duration: Family<OperationLabels, Histogram>,
    rancher_duration: Family<OperationLabels, Histogram>,
    /// The registries with gauges, so those gone from Rancher can be
    /// dropped (the families cannot be listed).
    written: Mutex<std::collections::HashSet<RegistryLabels>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn request_histogram() -> Histogram {
    // 5 ms .. ~20 s
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rancher_ecr_credentials");
        let mut metrics = Metrics {
            registry: Mutex::default(),
            last_success: Family::default(),
            token_expiry: Family::default(),
            cycles: Counter::default(),
            refused: Counter::default(),
            environments: Family::default(),
            failures: Family::default(),
            aws_duration: Family::new_with_constructor(request_histogram),
            rancher_duration: Family::new_with_constructor(request_histogram),
            written: Mutex::default(),
        };
        registry.register(
            "build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When the registry's credential was last written (Unix time)",
            metrics.last_success.clone(),
        );
        registry.register(
            "token_expiry_timestamp_seconds",
            "When the token last written for the registry expires, as ECR says (Unix time)",
            metrics.token_expiry.clone(),
        );
        registry.register(
            "refresh_cycles",
            "Refresh cycles started",
            metrics.cycles.clone(),
        );
        registry.register(
            "environments",
            "Rancher environments in the last cycle, by state (served, failed, skipped, late)",
            metrics.environments.clone(),
        );
        registry.register(
            "refresh_failures",
            "Refresh failures by cause",
            metrics.failures.clone(),
        );
        registry.register(
            "aws_request_duration_seconds",
            "Duration of AWS calls",
            metrics.aws_duration.clone(),
        );
        registry.register(
            "rancher_request_duration_seconds",
            "Duration of Rancher API requests, by method",
            metrics.rancher_duration.clone(),
        );
        registry.register(
            "health_connections_refused",
            "Connections the health listener closed as soon as it accepted them, being full",
            metrics.refused.clone(),
        );
        metrics.registry = Mutex::new(registry);
        metrics
    }

    /// The health listener was full and closed a new connection.
    pub fn listener_refused(&self) {
        self.refused.inc();
    }

    pub fn cycle_started(&self) {
        self.cycles.inc();
    }

    pub fn failure(&self, cause: &str) {
        self.failures
            .get_or_create(&CauseLabels {
                cause: cause.to_string(),
            })
            .inc();
    }

    /// Drops the gauges of the registries `keep` refuses: those gone from
    /// Rancher, given another address, or in an environment no longer
    /// served.
    pub fn retain_registries(&self, keep: impl Fn(&RegistryLabels) -> bool) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.retain(|labels| {
            let kept = keep(labels);
            if !kept {
                self.last_success.remove(labels);
                self.token_expiry.remove(labels);
            }
            kept
        });
    }

    pub fn registry_written(
        &self,
        labels: &RegistryLabels,
        at: SystemTime,
        expires_at: Option<SystemTime>,
    ) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(labels.clone());
        self.last_success
            .get_or_create(labels)
            .set(unix_seconds(at));
        if let Some(expiry) = expires_at {
            self.token_expiry
                .get_or_create(labels)
                .set(unix_seconds(expiry));
        }
    }

    /// The states of the environments of the last cycle.
    pub fn environments<'a>(&self, states: impl IntoIterator<Item = &'a str>) {
        let mut counts: std::collections::BTreeMap<&str, i64> =
            ["served", "failed", "skipped", "late"]
                .into_iter()
                .map(|state| (state, 0))
                .collect();
        for state in states {
            *counts.entry(state).or_default() += 1;
        }
        for (state, count) in counts {
            self.environments
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(count);
        }
    }

    pub fn aws_request(&self, operation: &str, took: Duration) {
        self.aws_duration
            .get_or_create(&OperationLabels {
                operation: operation.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn rancher_request(&self, method: &str, took: Duration) {
        self.rancher_duration
            .get_or_create(&OperationLabels {
                operation: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_families() {
        let metrics = Metrics::new();
        metrics.cycle_started();
        metrics.failure("rancher_auth");
        let labels = RegistryLabels {
            host: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            environment: "1a5".into(),
            namespace: String::new(),
        };
        metrics.registry_written(
            &labels,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            None,
        );
        metrics.rancher_request("PUT", Duration::from_millis(3));
        metrics.retain_registries(|labels| labels.environment != "1a9");
        let text = metrics.encode();
        for expected in [
            "rancher_ecr_credentials_build_info{version=",
            "rancher_ecr_credentials_refresh_cycles_total 1",
            "rancher_ecr_credentials_refresh_failures_total{cause=\"rancher_auth\"} 1",
            "rancher_ecr_credentials_last_success_timestamp_seconds{host=\"123456789012.dkr.ecr.us-east-1.amazonaws.com\",environment=\"1a5\"} 1800000000",
            "rancher_ecr_credentials_rancher_request_duration_seconds_count{operation=\"PUT\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} missing in\n{text}");
        }
        metrics.retain_registries(|labels| labels.environment != "1a5");
        assert!(!metrics.encode().contains("last_success_timestamp_seconds{"));
        let namespaced = RegistryLabels {
            namespace: "team-a".into(),
            environment: "prod".into(),
            ..labels
        };
        metrics.registry_written(&namespaced, SystemTime::UNIX_EPOCH, None);
        assert!(metrics.encode().contains(
            "last_success_timestamp_seconds{host=\"123456789012.dkr.ecr.us-east-1.amazonaws.com\",environment=\"prod\",namespace=\"team-a\"} 0"
        ));
    }
}
