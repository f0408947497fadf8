//! Properties of every parser of outside input, over generated input: none
//! panics, whatever it is given; what is normalized stays normalized; no
//! error repeats a secret it was given. Outside input is what a user, AWS,
//! Rancher or the kubelet controls: registry and ECR hosts, tokens, Rancher
//! JSON, the configuration file, the kubelet's request, durations and
//! image references.

use std::path::Path;

use proptest::prelude::*;
use rancher_ecr_credentials::aws::token::decode_token;
use rancher_ecr_credentials::config_file::ConfigFile;
use rancher_ecr_credentials::daemon::config::parse::{parse_cattle_url, parse_duration};
use rancher_ecr_credentials::daemon::config::targets::decide_targets;
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
    fn configuration_files_never_panic(text in "(\\[\\[(source|target)\\]\\]\n|[a-z_]{1,12} = (\"[ -~]{0,20}\"|[0-9]{1,5}|true|\\[\"[a-z0-9-]{0,12}\"\\])\n|[ -~]{0,30}\n){0,12}") {
        if let Ok(file) = ConfigFile::parse(Path::new("f.toml"), &text) {
            let _ = decide_targets(&file);
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
