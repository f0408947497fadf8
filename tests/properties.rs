//! Properties of every parser of outside input, over generated input: none
//! panics, whatever it is given; what is normalized stays normalized; no
//! error repeats a secret it was given. Outside input is what a user, AWS,
//! Rancher or the kubelet controls: registry and ECR hosts, tokens, Rancher
//! JSON, the configuration file, the kubelet's request, durations and
//! image references, and (for Kubernetes targets) namespace patterns, label
//! selectors and Rancher project ids.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use rancher_ecr_credentials::aws::token::decode_token;
use rancher_ecr_credentials::config_file::ConfigFile;
use rancher_ecr_credentials::daemon::config::kubernetes::decide_leader_election;
use rancher_ecr_credentials::daemon::config::parse::{parse_cattle_url, parse_duration};
use rancher_ecr_credentials::daemon::config::targets::decide_targets;
use rancher_ecr_credentials::daemon::kubernetes::glob::Glob;
use rancher_ecr_credentials::daemon::kubernetes::namespaces::RancherProject;
use rancher_ecr_credentials::daemon::kubernetes::selector::{LabelSelector, Requirement, Test};
use rancher_ecr_credentials::daemon::rancher::Registry;
use rancher_ecr_credentials::ecr_host::EcrHost;
use rancher_ecr_credentials::image::ImageRef;
use rancher_ecr_credentials::kubelet::protocol::decode_request;
use rancher_ecr_credentials::registry_host::RegistryHost;

/// Text that looks like what the parsers see: host-ish characters, ECR
/// labels and separators, as well as anything at all.
fn hostish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9.:/@_-]{0,64}",
        "(https?://)?[0-9]{10,13}\\.(dkr|dkr-ecr|dkr-ecr-fips)\\.(ecr|ecr-fips)?\\.?[a-z]{2,5}(-[a-z]{2,6}){1,2}-[0-9]{1,2}\\.(amazonaws\\.com|on\\.aws|amazonaws\\.eu|amazonaws\\.com\\.cn)(:[0-9]{1,6})?/?",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn registry_hosts_normalize_once(text in hostish()) {
        if let Ok(host) = RegistryHost::parse(&text) {
            let again = RegistryHost::parse(host.as_str()).expect("a parsed host parses");
            prop_assert_eq!(&again, &host);
            prop_assert!(host.matches_server_address(&text));
            prop_assert_eq!(host.as_str(), host.as_str().to_ascii_lowercase());
        }
    }

    #[test]
    fn ecr_hosts_parse_or_say_why(text in hostish()) {
        if let Ok(host) = RegistryHost::parse(&text) {
            match EcrHost::parse(&host) {
                Ok(ecr) => prop_assert!(!ecr.region().is_empty()),
                Err(err) => prop_assert!(err.to_string().contains(host.as_str())),
            }
        }
    }

    #[test]
    fn tokens_decode_or_fail_without_echoing(token in any::<String>(), endpoint in hostish()) {
        let secret = format!("{token}Z9secretZ9");
        if let Err(err) = decode_token(Some(&secret), Some(&endpoint), None) {
            prop_assert!(!err.to_string().contains("Z9secretZ9"), "{}", err);
        }
    }

    #[test]
    fn base64_tokens_keep_their_password(user in "[A-Za-z]{1,8}", password in "[ -~]{1,64}") {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let host = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let decoded = decode_token(Some(&token), Some(host), None).expect("a well-formed token");
        prop_assert_eq!(decoded.username, user);
        prop_assert_eq!(decoded.password.expose(), password.as_str());
    }

    #[test]
    fn rancher_json_never_panics(text in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_str::<Registry>(&text);
        let _ = serde_json::from_slice::<Registry>(&bytes);
    }

    #[test]
    fn configuration_files_never_panic(text in "(\\[\\[(source|target)\\]\\]\n|\\[leader_election\\]\n|kind = \"kubernetes\"\n|[a-z_]{1,12} = (\"[ -~]{0,20}\"|[0-9]{1,5}|true|\\[\"[a-z0-9*?!\\[\\]-]{0,12}\"\\])\n|[ -~]{0,30}\n){0,12}") {
        if let Ok(file) = ConfigFile::parse(Path::new("f.toml"), &text) {
            let _ = decide_targets(&file);
            let _ = decide_leader_election(&file);
        }
    }

    #[test]
    fn kubelet_requests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), image in hostish()) {
        let _ = decode_request(&bytes);
        let request = format!(
            "{{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderRequest\",\"image\":{}}}",
            serde_json::to_string(&image).unwrap()
        );
        let _ = decode_request(request.as_bytes());
    }

    #[test]
    fn images_parse_or_say_why(image in hostish()) {
        if let Ok(parsed) = ImageRef::parse(&image) {
            prop_assert!(!parsed.repository.is_empty());
        }
    }

    #[test]
    fn durations_are_positive_or_refused(text in "[0-9]{0,12}(ns|us|ms|s|m|h|d| )?[0-9a-z ]{0,6}") {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(!duration.is_zero());
        }
    }

    #[test]
    fn rancher_urls_never_keep_credentials(user in "[a-z]{1,8}", password in "[A-Za-z0-9]{6,16}", host in "[a-z]{1,10}") {
        let text = format!("http://{user}:{password}@{host}:8080/v1");
        let err = parse_cattle_url(&text).expect_err("credentials in the URL are refused");
        prop_assert!(!err.contains(&password), "{}", err);
    }
}

// ------------------------------------------------- Kubernetes targets

/// Text that looks like a label selector: keys, values, operators, blanks,
/// as well as anything at all.
fn selectorish() -> impl Strategy<Value = String> {
    prop_oneof![
        "([!]?[a-zA-Z0-9./_-]{0,12} ?(=|==|!=| in | notin |<|>|,)? ?\\(?[a-zA-Z0-9._, -]{0,12}\\)?,?){0,4}",
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

/// Text that looks like a namespace pattern.
fn globish() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9*?!\\[\\]-]{0,20}", "[ -~]{0,20}", any::<String>(),]
}

/// A label key or value as the API allows them (most of the time).
fn label_word() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9.-]{0,6}[a-z0-9])?"
}

/// A requirement, built as a value, to check the grammar against.
fn requirement() -> impl Strategy<Value = Requirement> {
    let values = || proptest::collection::btree_set(label_word(), 1..3);
    let test = prop_oneof![
        Just(Test::Exists),
        Just(Test::Absent),
        label_word().prop_map(Test::Equals),
        label_word().prop_map(Test::NotEquals),
        values().prop_map(Test::In),
        values().prop_map(Test::NotIn),
    ];
    (label_word(), test).prop_map(|(key, test)| Requirement { key, test })
}

/// The same question put the other way round, when it has one.
fn negation(requirement: &Requirement) -> Requirement {
    let test = match &requirement.test {
        Test::Exists => Test::Absent,
        Test::Absent => Test::Exists,
        Test::Equals(v) => Test::NotEquals(v.clone()),
        Test::NotEquals(v) => Test::Equals(v.clone()),
        Test::In(set) => Test::NotIn(set.clone()),
        Test::NotIn(set) => Test::In(set.clone()),
    };
    Requirement {
        key: requirement.key.clone(),
        test,
    }
}

/// A plain matcher of the documented glob syntax (recursive, no
/// cleverness), to hold the daemon's against.
fn reference_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| reference_match(&pattern[1..], &name[skip..])),
        Some('?') => !name.is_empty() && reference_match(&pattern[1..], &name[1..]),
        Some('[') => {
            let close = pattern
                .iter()
                .position(|c| *c == ']')
                .expect("a parsed class closes");
            let mut body = &pattern[1..close];
            let negated = body.first() == Some(&'!');
            if negated {
                body = &body[1..];
            }
            let Some(&c) = name.first() else { return false };
            let mut hit = false;
            let mut at = 0;
            while at < body.len() {
                if at + 2 < body.len() && body[at + 1] == '-' {
                    hit |= (body[at]..=body[at + 2]).contains(&c);
                    at += 3;
                } else {
                    hit |= body[at] == c;
                    at += 1;
                }
            }
            hit != negated && reference_match(&pattern[close + 1..], &name[1..])
        }
        Some(c) => name.first() == Some(c) && reference_match(&pattern[1..], &name[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn label_selectors_parse_back_or_say_why(text in selectorish()) {
        match LabelSelector::parse(&text) {
            Ok(selector) => {
                let again = LabelSelector::parse(&selector.to_string());
                prop_assert_eq!(again.as_ref(), Ok(&selector), "{}", selector);
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn built_selectors_read_back_and_negate(
        requirements in proptest::collection::vec(requirement(), 1..4),
        labels in proptest::collection::btree_map(label_word(), label_word(), 0..4),
    ) {
        let text = requirements.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let selector = LabelSelector::parse(&text).expect("a built selector parses");
        prop_assert_eq!(selector.requirements(), &requirements[..]);
        let all = requirements.iter().all(|r| r.matches(&labels));
        prop_assert_eq!(selector.matches(&labels), all);
        for requirement in &requirements {
            prop_assert_ne!(requirement.matches(&labels), negation(requirement).matches(&labels));
        }
    }

    #[test]
    fn requirements_see_the_value_of_their_own_key(key in label_word(), value in label_word()) {
        let labels: BTreeMap<String, String> = [(key.clone(), value.clone())].into();
        let matches = |text: String| LabelSelector::parse(&text).expect(&text).matches(&labels);
        let (equal, within) = (format!("{key}={value}"), format!("{key} in ({value},other)"));
        let (without, absent) = (format!("{key} notin ({value})"), format!("!{key}"));
        let other_key = format!("{key}x!={value}");
        prop_assert!(matches(equal) && matches(within) && matches(key));
        prop_assert!(!matches(without) && !matches(absent));
        prop_assert!(matches(other_key), "another key is absent");
    }

    #[test]
    fn globs_match_as_documented(pattern in globish(), name in "[a-z0-9-]{0,12}") {
        if let Ok(glob) = Glob::parse(&pattern) {
            prop_assert_eq!(Glob::parse(glob.as_str()), Ok(glob.clone()));
            let chars = |text: &str| text.chars().collect::<Vec<_>>();
            prop_assert_eq!(
                glob.matches(&name),
                reference_match(&chars(glob.as_str()), &chars(&name)),
                "{} against {}", glob, name
            );
        }
    }

    #[test]
    fn a_name_is_a_pattern_of_itself(name in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", other in "[a-z0-9-]{1,12}") {
        let glob = Glob::parse(&name).expect("a namespace name is a pattern");
        prop_assert!(glob.matches(&name));
        prop_assert_eq!(glob.matches(&other), other == name);
        prop_assert!(Glob::parse("*").unwrap().matches(&name));
    }

    #[test]
    fn rancher_projects_parse_back_or_say_why(text in "[a-z0-9:_. -]{0,20}|[ -~]{0,20}") {
        if let Ok(project) = RancherProject::parse(&text) {
            prop_assert_eq!(RancherProject::parse(&project.to_string()), Ok(project.clone()));
            let labels: BTreeMap<String, String> =
                [("field.cattle.io/projectId".to_string(), project.project.clone())].into();
            prop_assert!(project.holds(&labels));
        }
    }

    #[test]
    fn values_of_the_wrong_type_are_not_echoed(secret in "[A-Za-z0-9 \"\\\\]{1,16}Z9secretZ9", key in "(namespaces|service_accounts|sources|auto_create|rancher_projects)") {
        let text = format!("[[target]]\n{key} = {}\n", serde_json::to_string(&secret).unwrap());
        let err = ConfigFile::parse(Path::new("f.toml"), &text).expect_err("a wrong type");
        prop_assert!(!err.to_string().contains("Z9secretZ9"), "{}", err);
    }

    #[test]
    fn kubernetes_targets_never_panic(
        namespaces in proptest::collection::vec(globish(), 0..3),
        selector in selectorish(),
        project in "[ -~]{0,16}",
        secret_name in "[ -~]{0,16}",
        accounts in proptest::collection::vec("[ -~]{0,8}", 0..3),
    ) {
        let quoted = |text: &String| serde_json::to_string(text).unwrap();
        let list = |items: &[String]| items.iter().map(quoted).collect::<Vec<_>>().join(", ");
        let text = format!(
            "[[target]]\nkind = \"kubernetes\"\nnamespaces = [{}]\nnamespace_selector = {}\n\
             rancher_projects = [{}]\nsecret_name = {}\nservice_accounts = [{}]\n",
            list(&namespaces), quoted(&selector), quoted(&project), quoted(&secret_name),
            list(&accounts),
        );
        let file = ConfigFile::parse(Path::new("f.toml"), &text).expect("well-formed TOML");
        if let Err(err) = decide_targets(&file) {
            prop_assert!(err.line >= 3 && err.key.starts_with("target."), "{}", err);
        }
    }
}
