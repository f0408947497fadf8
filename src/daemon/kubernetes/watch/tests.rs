//! What the watches mark, event by event: nothing the starting cycle just
//! served, everything that appeared, changed or went since.

use super::*;
use crate::daemon::kubernetes::{NamespaceFilter, ServiceAccounts};

fn settings() -> KubernetesSettings {
    KubernetesSettings {
        name: None,
        kubeconfig: None,
        context: None,
        namespaces: NamespaceFilter::default(),
        secret_name: "ecr".into(),
        service_accounts: ServiceAccounts::Named(vec!["default".into()]),
    }
}

fn meta(name: &str, namespace: Option<&str>, version: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        resource_version: Some(version.into()),
        ..ObjectMeta::default()
    }
}

fn namespace(name: &str) -> ObjectMeta {
    meta(name, None, "1")
}

/// The marks so far, cleared.
fn taken(marks: &Marks) -> Vec<String> {
    std::mem::take(&mut *lock(&marks.pending))
        .into_iter()
        .collect()
}

struct Harness {
    known: Known,
    state: ListingState,
    marks: Marks,
    settings: KubernetesSettings,
}

impl Harness {
    fn new(served_by_cycle: &[&str]) -> Harness {
        Harness {
            known: Known {
                served_by_cycle: served_by_cycle.iter().map(|s| s.to_string()).collect(),
                ..Known::default()
            },
            state: ListingState::default(),
            marks: Marks::default(),
            settings: settings(),
        }
    }

    fn send(&mut self, kind: Kind, event: Event<ObjectMeta>) {
        let (known, state) = (&mut self.known, &mut self.state);
        known.apply(&kind, event, &self.settings, &self.marks, state);
    }

    fn list(&mut self, kind: fn() -> Kind, objects: Vec<ObjectMeta>) {
        self.send(kind(), Event::Init);
        for object in objects {
            self.send(kind(), Event::InitApply(object));
        }
        self.send(kind(), Event::InitDone);
    }
}

#[test]
fn the_first_listing_marks_only_what_the_cycle_did_not_serve() {
    let mut h = Harness::new(&["team-a"]);
    let all = vec![
        namespace("team-a"),
        namespace("team-b"),
        namespace("kube-system"),
    ];
    h.list(|| Kind::Namespace, all);
    assert_eq!(
        taken(&h.marks),
        ["team-b"],
        "created since the cycle listed"
    );
    // Our Secret is in team-a only: team-b has none, so it is marked too
    // (and team-a's is left).
    h.list(|| Kind::Secret, vec![meta("ecr", Some("team-a"), "5")]);
    assert_eq!(taken(&h.marks), ["team-b"]);
    h.list(|| Kind::Account, vec![meta("default", Some("team-a"), "6")]);
    assert!(taken(&h.marks).is_empty());
}

#[test]
fn changes_after_the_listing_mark_their_namespace() {
    let mut h = Harness::new(&["team-a", "team-b"]);
    h.list(
        || Kind::Namespace,
        vec![namespace("team-a"), namespace("team-b")],
    );
    h.list(
        || Kind::Secret,
        vec![
            meta("ecr", Some("team-a"), "5"),
            meta("ecr", Some("team-b"), "6"),
        ],
    );
    h.list(|| Kind::Account, vec![]);
    assert!(taken(&h.marks).is_empty());
    // A new namespace; the same namespace again is not new.
    h.send(Kind::Namespace, Event::Apply(namespace("team-c")));
    h.send(Kind::Namespace, Event::Apply(namespace("team-c")));
    h.send(Kind::Namespace, Event::Apply(namespace("kube-public")));
    assert_eq!(taken(&h.marks), ["team-c"]);
    // Our Secret: an event at the known version (a replay) is nothing; a
    // new version or a deletion marks.
    h.send(Kind::Secret, Event::Apply(meta("ecr", Some("team-a"), "5")));
    assert!(taken(&h.marks).is_empty());
    h.send(Kind::Secret, Event::Apply(meta("ecr", Some("team-a"), "7")));
    h.send(
        Kind::Secret,
        Event::Delete(meta("ecr", Some("team-b"), "8")),
    );
    assert_eq!(taken(&h.marks), ["team-a", "team-b"]);
    // A listed ServiceAccount appears; another one does not matter.
    h.send(
        Kind::Account,
        Event::Apply(meta("builder", Some("team-a"), "9")),
    );
    assert!(taken(&h.marks).is_empty());
    h.send(
        Kind::Account,
        Event::Apply(meta("default", Some("team-c"), "10")),
    );
    assert_eq!(taken(&h.marks), ["team-c"]);
}

#[test]
fn a_relist_finds_what_went_while_no_watch_ran() {
    let mut h = Harness::new(&["team-a", "team-b"]);
    h.list(
        || Kind::Namespace,
        vec![namespace("team-a"), namespace("team-b")],
    );
    h.list(
        || Kind::Secret,
        vec![
            meta("ecr", Some("team-a"), "5"),
            meta("ecr", Some("team-b"), "6"),
        ],
    );
    assert!(taken(&h.marks).is_empty());
    // After a 410: team-a's Secret is gone, team-b's changed.
    h.list(|| Kind::Secret, vec![meta("ecr", Some("team-b"), "9")]);
    assert_eq!(taken(&h.marks), ["team-a", "team-b"]);
    // A namespace deleted meanwhile is forgotten; its Secret then is not
    // served.
    h.list(|| Kind::Namespace, vec![namespace("team-b")]);
    h.send(
        Kind::Secret,
        Event::Apply(meta("ecr", Some("team-a"), "11")),
    );
    assert!(taken(&h.marks).is_empty());
}

#[test]
fn a_namespace_being_deleted_is_not_served() {
    let mut h = Harness::new(&[]);
    h.list(|| Kind::Namespace, vec![]);
    let mut deleting = namespace("team-x");
    deleting.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Default::default(),
    ));
    h.send(Kind::Namespace, Event::Apply(deleting));
    assert!(taken(&h.marks).is_empty());
}
