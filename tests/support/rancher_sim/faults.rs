//! Failures and races a test can script: the next requests fail, requests of
//! one kind fail, or another writer creates a registry just before our POST.
//!
//! They sit before authentication in the request path, so a fault looks like
//! a proxy or a server in trouble, whoever asks. Each is consumed as it fires.

use axum::http::Method;

use super::state::{Meta, SimState};
use super::RancherSim;

#[derive(Default)]
pub(super) struct Faults {
    /// The next `n` API requests answer this status.
    next: Option<(usize, u16)>,
    rules: Vec<Rule>,
    /// Registries (project, address) that appear just before the next POST.
    before_next_post: Vec<(u64, String)>,
}

/// The next `remaining` requests with `method` whose path contains `path_part`.
struct Rule {
    method: String,
    path_part: String,
    remaining: usize,
    status: u16,
}

impl Faults {
    /// The status the request must fail with, if a fault fires for it.
    fn fire(&mut self, method: &Method, path: &str) -> Option<u16> {
        if let Some((remaining, status)) = self.next.as_mut().filter(|(n, _)| *n > 0) {
            *remaining -= 1;
            return Some(*status);
        }
        let rule = self.rules.iter_mut().find(|rule| {
            rule.remaining > 0 && rule.method == method.as_str() && path.contains(&rule.path_part)
        })?;
        rule.remaining -= 1;
        Some(rule.status)
    }
}

/// Runs the faults due for a request; returns the status it must fail with.
pub(super) fn apply(st: &mut SimState, method: &Method, path: &str) -> Option<u16> {
    if let Some(status) = st.faults.fire(method, path) {
        return Some(status);
    }
    if method == Method::POST {
        for (account, address) in std::mem::take(&mut st.faults.before_next_post) {
            st.insert_registry(Meta::new(account, "active"), &address);
        }
    }
    None
}

impl RancherSim {
    /// The next `n` API requests get `status` with a Rancher error body, before auth.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.lock().faults.next = Some((n, status));
    }

    /// The next `n` API requests with `method` whose path contains
    /// `path_part` answer `status` (after the `fail_next` ones).
    pub fn fail_matching(&self, method: &str, path_part: &str, n: usize, status: u16) {
        self.shared.lock().faults.rules.push(Rule {
            method: method.to_string(),
            path_part: path_part.to_string(),
            remaining: n,
            status,
        });
    }

    /// Simulates a concurrent writer: just before the next POST is handled,
    /// an active registry with `server_address` appears in `project`.
    pub fn add_registry_before_next_post(&self, project: &str, server_address: &str) {
        let account = super::must_parse_id(project);
        self.shared
            .lock()
            .faults
            .before_next_post
            .push((account, server_address.to_string()));
    }
}
