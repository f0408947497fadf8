//! A month of faults in a minute: the daemon's real refresh loop (cycle,
//! scheduler, status, metrics, the Rancher client, the AWS SDK) runs
//! through 30 simulated days against the Rancher simulator and a fake ECR,
//! both in this process under tokio's paused clock, while a seeded plan
//! injects outages, errors, throttling, timeouts, lost answers, tokens of
//! varying life, and registries come and go (tests/support/soak/).
//!
//! Before and after every cycle it asserts what an operator relies on:
//! - no registry holds an expired token for longer than the retry window
//!   (RETRY_MAX_DELAY plus one whole cycle) after the last fault: while AWS
//!   and Rancher are up, the daemon repairs within one retry;
//! - no registry ever has two credentials, and hosts no source serves get none;
//! - `/healthz` never says healthy while a credential it knows is expired,
//!   and after a clean cycle it says healthy;
//! - after a clean cycle, `/healthz` and `/metrics` list exactly the
//!   registries Rancher lists, with the expiry of the token each one holds,
//!   so the daemon's state follows Rancher and does not grow.
//!
//! The seed is random (printed at the start and in every failure);
//! `SOAK_SEED=<n>` replays one month exactly. `cargo test --test soak --
//! --nocapture` prints the figures docs/benchmarks.md records.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_ecr::config::Region;
use rancher_ecr_credentials::bounded::{LimitedHttpClient, AWS_BODY_LIMIT};
use rancher_ecr_credentials::daemon::config::Supply;
use rancher_ecr_credentials::daemon::cycle::{RancherTarget, Target, Updater};
use rancher_ecr_credentials::daemon::metrics::Metrics;
use rancher_ecr_credentials::daemon::rancher::{RancherClient, RancherSettings, Selection};
use rancher_ecr_credentials::daemon::reconcile::Policy;
use rancher_ecr_credentials::daemon::refresher::Refresher;
use rancher_ecr_credentials::daemon::schedule::{RetryPolicy, Scheduler};
use rancher_ecr_credentials::daemon::sources::{Source, Sources};
use rancher_ecr_credentials::daemon::status::Status;
use rancher_ecr_credentials::daemon::token_source::TokenSource;
use rancher_ecr_credentials::secret::Secret;

use support::rancher_sim::{KeyKind, RancherSim, Role};
use support::soak::aws::FakeEcr;
use support::soak::checks::Soak;
use support::soak::rancher::{SimExchange, CLIENT_TIMEOUT};
use support::soak::{host, Clock, Faults, Odds, ACCOUNTS, PROJECTS, REGION};

const DAYS: u64 = 30;
const USER: &str = "1a20";
const ACCESS_KEY: &str = "soak-access";
const SECRET_KEY: &str = "soak-secret";
/// The daemon's defaults (REFRESH_INTERVAL, RETRY_MIN_DELAY, RETRY_MAX_DELAY).
const REFRESH_INTERVAL: Duration = Duration::from_secs(6 * 3600);
const RETRY: RetryPolicy = RetryPolicy {
    min_delay: Duration::from_secs(2),
    max_delay: Duration::from_secs(5 * 60),
};

fn seed() -> u64 {
    match std::env::var("SOAK_SEED") {
        Ok(seed) => seed.parse().expect("SOAK_SEED is a number"),
        Err(_) => fastrand::u64(..),
    }
}

/// Three environments served by an account key: the identity's own
/// registry in each, another account's in one, and hosts no source serves
/// (another region, not ECR).
fn rancher() -> Arc<RancherSim> {
    let sim = RancherSim::unbound(8080);
    for project in PROJECTS {
        sim.add_project(project);
        sim.add_member(project, USER, Role::Owner);
        sim.add_registry(project, &host(ACCOUNTS[0], REGION), "active");
    }
    sim.add_key(ACCESS_KEY, SECRET_KEY, KeyKind::User, Some(USER));
    sim.add_registry(PROJECTS[1], &host(ACCOUNTS[1], REGION), "active");
    sim.add_registry(PROJECTS[2], &host(ACCOUNTS[0], "us-west-2"), "active");
    sim.add_registry(PROJECTS[2], "registry.example.com", "active");
    Arc::new(sim)
}

/// The daemon as `wiring` would build it from one `[[source]]` (both
/// accounts, us-east-1) and one target serving every environment, over the
/// in-process AWS and Rancher.
fn refresher(
    ecr: &FakeEcr,
    exchange: SimExchange,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
) -> Refresher {
    let credentials = Credentials::new("AKIASOAK", "soak-aws-secret", None, None, "soak");
    let sdk_config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(LimitedHttpClient::wrap(ecr.http_client(), AWS_BODY_LIMIT))
        .timeout_config(TokenSource::timeouts())
        .build();
    let tokens = TokenSource::from_sdk_config(sdk_config, Vec::new(), metrics.clone());
    let sources = Sources::new(vec![Source {
        name: "soak".into(),
        tokens,
        region: Some(REGION.into()),
        accounts: ACCOUNTS.iter().map(|a| a.to_string()).collect(),
        aliases: Default::default(),
        proxy_host: None,
    }]);
    let settings = RancherSettings {
        url: "http://127.0.0.1:8080/v2-beta".parse().expect("a URL"),
        access_key: ACCESS_KEY.into(),
        secret_key: Secret::new(SECRET_KEY),
        timeout: CLIENT_TIMEOUT,
        insecure: false,
        environments: Some(Selection::All),
    };
    let client = RancherClient::over(&settings, Arc::new(exchange), metrics.clone());
    let target = RancherTarget::new(
        client,
        Some(Selection::All),
        vec![0],
        false,
        None,
        REFRESH_INTERVAL,
    );
    let policy = Policy {
        auto_create: false,
        proxy_host: None,
        dry_run: false,
    };
    let updater = Updater::new(
        sources,
        Supply::Discovered,
        vec![Target::Rancher(target)],
        policy,
    );
    let scheduler = Scheduler::new(REFRESH_INTERVAL, RETRY);
    Refresher::new(updater, scheduler, status, metrics)
}

#[tokio::test(start_paused = true)]
async fn a_month_of_faults_in_a_minute() {
    let seed = seed();
    eprintln!("soak: seed {seed} (SOAK_SEED={seed} replays this month)");
    // The daemon's backoff jitter (and the AWS SDK's) draw from this
    // thread's generator: the runtime's only thread.
    fastrand::seed(seed);
    let clock = Clock::start();
    let odds = Odds {
        error: 0.03,
        throttle: 0.03,
        timeout: 0.01,
        lost: 0.02,
    };
    let faults = Faults::new(seed, clock, DAYS, odds);
    let ecr = FakeEcr::new(clock, faults.clone(), ACCOUNTS[0]);
    let sim = rancher();
    let exchange = SimExchange {
        sim: sim.clone(),
        faults: faults.clone(),
    };
    let status = Arc::new(Status::new(RETRY.grace(), 0));
    let metrics = Arc::new(Metrics::new());
    let mut refresher = refresher(&ecr, exchange, status.clone(), metrics.clone());
    let mut soak = Soak::new(seed, clock, faults, ecr, sim, status, metrics);
    let window = RETRY.max_delay + rancher_ecr_credentials::daemon::schedule::CYCLE_TIMEOUT;
    let end = Duration::from_secs(DAYS * 24 * 3600);
    while clock.elapsed() < end {
        soak.churn();
        soak.check_tokens(window);
        let plan = refresher.cycle(|| clock.now()).await;
        soak.check_tokens(window);
        soak.after_cycle(plan.retry);
        tokio::time::sleep(plan.delay).await;
    }
    let figures = soak.figures(DAYS);
    eprintln!("{figures}");
    figures.assert_held(window);
}
