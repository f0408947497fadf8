//! The four resources the simulator serves, with what each one's URLs,
//! bodies and messages need (docs/kubernetes-api.md §2), and the
//! discovery documents kubectl reads before it touches them.

use serde_json::{json, Value};

/// A resource type the simulator stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespaces,
    Secrets,
    ServiceAccounts,
    Leases,
}

pub const ALL: [Resource; 4] = [
    Resource::Namespaces,
    Resource::Secrets,
    Resource::ServiceAccounts,
    Resource::Leases,
];

impl Resource {
    /// The plural used in URLs, RBAC and most messages.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Secrets => "secrets",
            Resource::ServiceAccounts => "serviceaccounts",
            Resource::Leases => "leases",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Secrets => "Secret",
            Resource::ServiceAccounts => "ServiceAccount",
            Resource::Leases => "Lease",
        }
    }

    /// `""` for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Resource::Leases => "coordination.k8s.io",
            _ => "",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Resource::Leases => "coordination.k8s.io/v1",
            _ => "v1",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Resource::Namespaces
    }

    /// `secrets`, or `leases.coordination.k8s.io` outside the core group:
    /// how NotFound, Conflict and AlreadyExists messages name the resource.
    pub fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            group => format!("{}.{group}", self.plural()),
        }
    }

    /// `Secret`, or `Lease.coordination.k8s.io`: how Invalid messages name it.
    pub fn qualified_kind(self) -> String {
        match self.group() {
            "" => self.kind().to_string(),
            group => format!("{}.{group}", self.kind()),
        }
    }

    pub fn from_plural(group: &str, plural: &str) -> Option<Resource> {
        ALL.into_iter()
            .find(|r| r.group() == group && r.plural() == plural)
    }

    fn short_names(self) -> Vec<&'static str> {
        match self {
            Resource::Namespaces => vec!["ns"],
            Resource::ServiceAccounts => vec!["sa"],
            _ => vec![],
        }
    }

    /// This resource's entry in an `APIResourceList`.
    fn discovery_entry(self) -> Value {
        json!({
            "name": self.plural(),
            "singularName": self.kind().to_lowercase(),
            "namespaced": self.namespaced(),
            "kind": self.kind(),
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": self.short_names(),
        })
    }
}

/// `GET /version`, as a 1.29 server answers.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "29", "gitVersion": "v1.29.4-sim",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.21.9", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

/// `GET /apis`: the named groups (coordination.k8s.io only).
pub fn groups() -> Value {
    json!({
        "kind": "APIGroupList", "apiVersion": "v1",
        "groups": [{
            "name": "coordination.k8s.io",
            "versions": [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"},
        }],
    })
}

/// `GET /apis/coordination.k8s.io`: the group alone.
pub fn coordination_group() -> Value {
    groups()["groups"][0].clone()
}

/// `GET /api/v1` or `GET /apis/coordination.k8s.io/v1`.
pub fn resource_list(group_version: &str) -> Value {
    let resources: Vec<Value> = ALL
        .into_iter()
        .filter(|r| r.api_version() == group_version)
        .map(Resource::discovery_entry)
        .collect();
    json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources})
}
