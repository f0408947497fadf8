//! Failures a test can script, none of which a healthy apiserver shows on
//! its own: the next requests matching a method and path fail with a status
//! (a Status body, or APF's plain-text 429), responses are delayed, and
//! open watches are dropped, silenced, or ended with an ERROR event. Faults
//! fire before authentication, like a proxy or an apiserver in trouble.

use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::routes::Incoming;
use super::state::SimState;
use super::status::KubeError;
use super::{KubeSim, Resource, APF_MESSAGE};

#[derive(Default)]
pub struct Faults {
    rules: Vec<Rule>,
    delays: Vec<(Option<String>, String, Duration)>,
    races: Vec<Race>,
}

/// Another writer's change, stored just before the next request with
/// `method` whose path contains `path_part` is served: the write that
/// client read for is then stale.
struct Race {
    method: String,
    path_part: String,
    change: Box<dyn FnOnce(&mut SimState) + Send>,
}

/// The next `remaining` requests with `method` (any when `None`) whose path
/// contains `path_part` fail with `status`.
struct Rule {
    method: Option<String>,
    path_part: String,
    remaining: usize,
    status: u16,
    /// APF's plain-text 429 with this Retry-After.
    apf_retry_after: Option<u64>,
}

fn matches(method: &Option<String>, path_part: &str, inc_method: &Method, path: &str) -> bool {
    method.as_deref().is_none_or(|m| m == inc_method.as_str()) && path.contains(path_part)
}

impl Faults {
    /// How long a request waits before it is served.
    pub fn delay_for(&self, method: &Method, path: &str) -> Duration {
        (self.delays.iter())
            .filter(|(m, part, _)| matches(m, part, method, path))
            .map(|(_, _, delay)| *delay)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// The response a fault answers `inc` with, if one fires; a race's change
/// is stored first.
pub fn fire(st: &mut SimState, inc: &Incoming) -> Option<Response> {
    let race = (st.faults.races.iter()).position(|race| {
        matches(
            &Some(race.method.clone()),
            &race.path_part,
            &inc.method,
            &inc.path,
        )
    });
    if let Some(index) = race {
        let race = st.faults.races.remove(index);
        (race.change)(st);
    }
    let rule = st.faults.rules.iter_mut().find(|rule| {
        rule.remaining > 0 && matches(&rule.method, &rule.path_part, &inc.method, &inc.path)
    })?;
    rule.remaining -= 1;
    if let Some(seconds) = rule.apf_retry_after {
        let headers = [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::RETRY_AFTER, seconds.to_string()),
        ];
        return Some((StatusCode::TOO_MANY_REQUESTS, headers, APF_MESSAGE).into_response());
    }
    Some(KubeError::for_code(rule.status).into_response())
}

impl KubeSim {
    /// The next `n` requests with `method` (`"*"`: any) whose path contains
    /// `path_part` answer `status` with a Status body (429, 503 and 504
    /// carry `Retry-After: 1`).
    pub fn fail_next(&self, method: &str, path_part: &str, n: usize, status: u16) {
        self.push_rule(method, path_part, n, status, None);
    }

    /// The next `n` matching requests get APF's rejection: 429, plain text,
    /// `Retry-After: retry_after`.
    pub fn throttle_next(&self, method: &str, path_part: &str, n: usize, retry_after: u64) {
        self.push_rule(method, path_part, n, 429, Some(retry_after));
    }

    fn push_rule(&self, method: &str, path_part: &str, n: usize, status: u16, apf: Option<u64>) {
        let method = (method != "*").then(|| method.to_string());
        self.shared.lock().faults.rules.push(Rule {
            method,
            path_part: path_part.to_string(),
            remaining: n,
            status,
            apf_retry_after: apf,
        });
    }

    /// Requests with `method` (`"*"`: any) whose path contains `path_part`
    /// wait `delay` before they are served (side by side, not in turn).
    pub fn delay(&self, method: &str, path_part: &str, delay: Duration) {
        let method = (method != "*").then(|| method.to_string());
        let rule = (method, path_part.to_string(), delay);
        self.shared.lock().faults.delays.push(rule);
    }

    /// Before the next `method` request whose path contains `path_part`,
    /// another writer appends `{"name": entry}` to the `imagePullSecrets`
    /// of ServiceAccount `namespace/name` (a new resourceVersion, as a
    /// concurrent controller's write would leave it).
    pub fn race_pull_secret(
        &self,
        method: &str,
        path_part: &str,
        namespace: &str,
        name: &str,
        entry: &str,
    ) {
        let key = (
            Resource::ServiceAccounts,
            namespace.to_string(),
            name.to_string(),
        );
        let entry = entry.to_string();
        let change = move |st: &mut SimState| {
            let Some(mut account) = st.get(&key).cloned() else {
                return;
            };
            let mut list = account["imagePullSecrets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            list.push(serde_json::json!({"name": entry}));
            account["imagePullSecrets"] = serde_json::Value::Array(list);
            st.put(key, account);
        };
        self.shared.lock().faults.races.push(Race {
            method: method.to_string(),
            path_part: path_part.to_string(),
            change: Box::new(change),
        });
    }

    /// Ends every open watch stream now (a clean end, as at a timeout).
    pub fn drop_watches(&self) {
        self.shared.lock().control.send_modify(|c| c.drops += 1);
    }

    /// While `silent`, open watches send nothing (no events, no bookmarks);
    /// what they held back follows once it is lifted.
    pub fn silence_watches(&self, silent: bool) {
        self.shared
            .lock()
            .control
            .send_modify(|c| c.silent = silent);
    }

    /// Ends every open watch with an ERROR event carrying a Status of `code`.
    pub fn error_watches(&self, code: u16) {
        self.shared.lock().control.send_modify(|c| {
            c.errors += 1;
            c.error_code = code;
        });
    }
}
