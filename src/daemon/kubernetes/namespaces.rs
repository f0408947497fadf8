//! Which namespaces of a cluster a Kubernetes target serves: those its
//! `namespaces` patterns name, less those `exclude_namespaces` names, of
//! those the rest that satisfy `namespace_selector` and belong to one of
//! `rancher_projects`. All four are conditions on what a namespace listing
//! says (a name and labels), so the decision is pure and made per namespace.
//!
//! Rancher 2 labels each namespace of a project
//! `field.cattle.io/projectId=<project id>` (the bare id, `p-xyz34`),
//! while its UI shows a project as `<cluster id>:<project id>`; both forms
//! are accepted, and the cluster part, which the label does not carry, is
//! kept only to be shown.

use std::collections::BTreeMap;
use std::fmt;

use super::glob::Glob;
use super::names::check_label_value;
use super::selector::LabelSelector;

/// The label Rancher 2 puts on the namespaces of a project.
pub const PROJECT_LABEL: &str = "field.cattle.io/projectId";

/// The namespaces excluded when `exclude_namespaces` is not given: the
/// cluster's own, which no workload of a user runs in.
pub const DEFAULT_EXCLUDED: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// A Rancher 2 project, as `c-m-abc12:p-xyz34` or `p-xyz34`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RancherProject {
    /// The cluster id, when given; not checked (no label carries it).
    pub cluster: Option<String>,
    /// The project id: the value of the namespaces' project label.
    pub project: String,
}

impl RancherProject {
    /// Parses `[<cluster>:]<project>`, or says why it is none.
    pub fn parse(text: &str) -> Result<RancherProject, String> {
        let text = text.trim();
        let (cluster, project) = match text.split_once(':') {
            Some((cluster, project)) => (Some(cluster), project),
            None => (None, text),
        };
        let expected = "expected a Rancher project id such as c-m-abc12:p-xyz34 or p-xyz34";
        if project.is_empty() {
            return Err(format!("the project id is empty; {expected}"));
        }
        check_label_value(project).map_err(|reason| format!("{reason}; {expected}"))?;
        if let Some(cluster) = cluster {
            if cluster.is_empty() {
                return Err(format!("the cluster id before ':' is empty; {expected}"));
            }
            check_label_value(cluster)
                .map_err(|reason| format!("the cluster id: {reason}; {expected}"))?;
        }
        Ok(RancherProject {
            cluster: cluster.map(str::to_string),
            project: project.to_string(),
        })
    }

    /// Whether a namespace with these labels belongs to the project.
    pub fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get(PROJECT_LABEL) == Some(&self.project)
    }
}

impl fmt::Display for RancherProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cluster {
            Some(cluster) => write!(f, "{cluster}:{}", self.project),
            None => f.write_str(&self.project),
        }
    }
}

/// The namespaces a Kubernetes target serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceFilter {
    /// A namespace must match one of these (never empty).
    pub include: Vec<Glob>,
    /// And none of these.
    pub exclude: Vec<Glob>,
    /// And these labels, if given.
    pub selector: Option<LabelSelector>,
    /// And belong to one of these projects, if given (never empty).
    pub projects: Option<Vec<RancherProject>>,
}

impl Default for NamespaceFilter {
    /// Every namespace but the cluster's own.
    fn default() -> NamespaceFilter {
        let glob = |text: &str| Glob::parse(text).into_iter();
        NamespaceFilter {
            include: glob("*").collect(),
            exclude: DEFAULT_EXCLUDED
                .iter()
                .flat_map(|name| glob(name))
                .collect(),
            selector: None,
            projects: None,
        }
    }
}

impl NamespaceFilter {
    /// Whether the namespace `name`, labelled `labels`, is served.
    pub fn serves(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.include.iter().any(|glob| glob.matches(name))
            && !self.exclude.iter().any(|glob| glob.matches(name))
            && self.selector.as_ref().is_none_or(|s| s.matches(labels))
            && self
                .projects
                .as_ref()
                .is_none_or(|projects| projects.iter().any(|p| p.holds(labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_serves_all_but_the_clusters_own() {
        let filter = NamespaceFilter::default();
        assert_eq!(filter.include.len(), 1);
        assert_eq!(filter.exclude.len(), 3);
        let none = labels(&[]);
        assert!(filter.serves("default", &none));
        assert!(filter.serves("team-a", &none));
        for own in DEFAULT_EXCLUDED {
            assert!(!filter.serves(own, &none), "{own}");
        }
    }

    #[test]
    fn every_condition_must_hold() {
        let filter = NamespaceFilter {
            include: vec![Glob::parse("team-*").unwrap()],
            exclude: vec![Glob::parse("team-old*").unwrap()],
            selector: Some(LabelSelector::parse("tier in (front,back),!legacy").unwrap()),
            projects: Some(vec![
                RancherProject::parse("c-m-abc12:p-xyz34").unwrap(),
                RancherProject::parse("p-other").unwrap(),
            ]),
        };
        let good = labels(&[("tier", "front"), (PROJECT_LABEL, "p-xyz34")]);
        assert!(filter.serves("team-a", &good));
        assert!(!filter.serves("prod", &good), "not included");
        assert!(!filter.serves("team-old-a", &good), "excluded");
        let legacy = labels(&[
            ("tier", "front"),
            ("legacy", ""),
            (PROJECT_LABEL, "p-xyz34"),
        ]);
        assert!(!filter.serves("team-a", &legacy), "selector");
        let elsewhere = labels(&[("tier", "back"), (PROJECT_LABEL, "c-m-abc12:p-xyz34")]);
        assert!(
            !filter.serves("team-a", &elsewhere),
            "the label is the bare id"
        );
        let other = labels(&[("tier", "back"), (PROJECT_LABEL, "p-other")]);
        assert!(filter.serves("team-b", &other));
    }

    #[test]
    fn projects() {
        let project = RancherProject::parse(" c-m-abc12:p-xyz34 ").unwrap();
        assert_eq!(project.cluster.as_deref(), Some("c-m-abc12"));
        assert_eq!(project.project, "p-xyz34");
        assert_eq!(project.to_string(), "c-m-abc12:p-xyz34");
        assert_eq!(RancherProject::parse("p-xyz34").unwrap().cluster, None);
        for (bad, says) in [
            ("", "project id is empty"),
            ("c-1:", "project id is empty"),
            (":p-1", "cluster id before ':' is empty"),
            ("c:p:q", "the label value"),
            ("p x", "the label value"),
            ("c y:p", "the cluster id"),
        ] {
            let err = RancherProject::parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
