//! The documentation against the binary: the README's configuration table
//! matches `--help`, every configuration file the documentation shows is one
//! the binary accepts, and the kubelet guide's `matchImages` cover every ECR
//! host form, matched as the kubelet matches images, while its
//! troubleshooting table quotes the messages the provider prints.

mod support;

use std::path::{Path, PathBuf};

use support::kubelet::V1;
use support::repo::{help, help_options, read, repo, HelpOption, ITEM};

/// Every ```toml block of the documentation is a configuration file the
/// binary accepts, targets resolved (a `secret_key_file` is pointed at a
/// scratch file, keeping the line numbers).
#[test]
fn documented_configuration_files_are_accepted() {
    let secret = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("documented-secret-key");
    std::fs::write(&secret, "documented-secret\n").unwrap();
    let mut checked = 0;
    for doc in [
        "README.md",
        "docs/environments.md",
        "docs/kubelet-credential-provider.md",
        "docs/kubernetes.md",
        &format!("{ITEM}/0/README.md"),
    ] {
        let text = read(doc);
        for block in text.split("```toml\n").skip(1) {
            let block = block.split("```").next().unwrap();
            let block: String = block
                .lines()
                .map(|line| match line.split_once('=') {
                    Some((key, _)) if key.trim() == "secret_key_file" => {
                        format!("secret_key_file = {:?}\n", secret.display().to_string())
                    }
                    _ => format!("{line}\n"),
                })
                .collect();
            parse_config_file(Path::new(doc), &block)
                .unwrap_or_else(|err| panic!("{err}\n{block}"));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} TOML examples found");
}

/// A README configuration row: flag, environment, default, meaning.
fn table_row(cells: [&str; 4]) -> String {
    cells.iter().fold("|".to_string(), |row, cell| {
        if cell.is_empty() {
            row + " |"
        } else {
            format!("{row} {cell} |")
        }
    })
}

/// The rows the README must have, in `--help` order: flag, environment
/// variable and default as `--help` says; the meaning as the README words it
/// (`--help`'s text for an option the README does not have yet).
fn expected_table(options: &[HelpOption], readme_rows: &[&str]) -> Vec<String> {
    options
        .iter()
        .map(|option| {
            let flag = format!("`--{}`", option.flag);
            let meaning = readme_rows
                .iter()
                .map(|row| row.split('|').collect::<Vec<_>>())
                .find(|cells| cells.len() >= 6 && cells[1].trim() == flag)
                .map(|cells| cells[4..cells.len() - 1].join("|").trim().to_string())
                .unwrap_or_else(|| option.help.clone());
            let env = option.env.as_ref().map(|e| format!("`{e}`"));
            let default = option.default.as_ref().map(|d| format!("`{d}`"));
            table_row([
                &flag,
                env.as_deref().unwrap_or(""),
                default.as_deref().unwrap_or(""),
                &meaning,
            ])
        })
        .collect()
}

/// The README's configuration table has one row per `--help` option, in its
/// order, with its environment variable and default. After a change to the
/// options, `REFRESH_README=1 cargo test --test docs readme_configuration`
/// rewrites the rows (keeping the README's wording of each meaning).
#[test]
fn readme_configuration_table_matches_help() {
    let options = help_options(&help());
    assert!(options.len() > 20, "too few options read from --help");
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let rows: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("| `--"))
        .collect();
    let expected = expected_table(&options, &rows);
    if rows == expected {
        return;
    }
    let first = lines.iter().position(|l| l.starts_with("| `--"));
    let last = lines.iter().rposition(|l| l.starts_with("| `--"));
    let (Some(first), Some(last)) = (first, last) else {
        panic!("README.md has no configuration table (rows starting with | `--)");
    };
    if std::env::var_os("REFRESH_README").is_some() {
        let mut refreshed: Vec<String> = lines[..first].iter().map(|l| l.to_string()).collect();
        refreshed.extend(expected);
        refreshed.extend(lines[last + 1..].iter().map(|l| l.to_string()));
        std::fs::write(repo("README.md"), refreshed.join("\n") + "\n").expect("README.md written");
        eprintln!("README.md: configuration table refreshed from --help");
        return;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|r| !rows.contains(&r.as_str()))
        .collect();
    let extra: Vec<&&str> = rows
        .iter()
        .filter(|r| !expected.contains(&r.to_string()))
        .collect();
    panic!(
        "README.md's configuration table does not match --help (or its order).\n\
         Rows --help calls for: {missing:#?}\nRows it does not: {extra:#?}\n\
         Refresh them with: REFRESH_README=1 cargo test --test docs readme_configuration"
    );
}

// ------------------------------------------------- the kubelet guide

/// The kubelet's image matching (pkg/credentialprovider `URLsMatch`): no
/// scheme, equal ports, the same number of host labels, each label a glob
/// (Go's `filepath.Match`), the pattern's path a prefix of the image's.
fn kubelet_matches(pattern: &str, image: &str) -> bool {
    fn split(text: &str) -> (Vec<&str>, &str, &str) {
        let text = text.strip_prefix("https://").unwrap_or(text);
        let (host, path) = text.split_once('/').map_or((text, ""), |(h, p)| (h, p));
        let (host, port) = host.rsplit_once(':').unwrap_or((host, ""));
        (host.split('.').collect(), port, path)
    }
    let (pattern_labels, pattern_port, pattern_path) = split(pattern);
    let (image_labels, image_port, image_path) = split(image);
    pattern_port == image_port
        && pattern_labels.len() == image_labels.len()
        && image_path.starts_with(pattern_path)
        && pattern_labels
            .iter()
            .zip(&image_labels)
            .all(|(glob, label)| glob_matches(glob.as_bytes(), label.as_bytes()))
}

/// Go's `filepath.Match` on one label: `*`, `?`, `[…]` (ranges, `^`), `\`.
fn glob_matches(glob: &[u8], text: &[u8]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|&c| c == b']') else {
                return false;
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let (negated, class) = match class.split_first() {
                Some((b'^', class)) => (true, class),
                _ => (false, class),
            };
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let mut found = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    found |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    found |= class[i] == c;
                    i += 1;
                }
            }
            found != negated && glob_matches(after, text_rest)
        }
        Some((b'\\', rest)) => match (rest.split_first(), text.split_first()) {
            (Some((g, rest)), Some((t, text_rest))) => g == t && glob_matches(rest, text_rest),
            _ => false,
        },
        Some((&g, rest)) => text.first() == Some(&g) && glob_matches(rest, &text[1..]),
    }
}

#[test]
fn the_matcher_follows_the_kubelet() {
    assert!(kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com:5000/app"
    ));
    assert!(!kubelet_matches(
        "*.dkr.ecr.*.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app"
    ));
    assert!(kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/path/app"
    ));
    assert!(!kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/other"
    ));
    assert!(kubelet_matches("k8s.*.io", "k8s.gcr.io/app"));
    assert!(kubelet_matches("app?.[a-c]x.[^0-9]", "app1.bx.z/app"));
    assert!(!kubelet_matches("app?.[a-c]x.[^0-9]", "app1.dx.z/app"));
}

/// One sample host per documented host form.
const HOST_FORMS: [(&str, &str); 15] = [
    ("standard", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ("FIPS", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
    ("dual-stack", "123456789012.dkr-ecr.eu-west-1.on.aws"),
    (
        "dual-stack FIPS",
        "123456789012.dkr-ecr-fips.us-east-1.on.aws",
    ),
    ("China", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
    (
        "China dual-stack",
        "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
    ),
    (
        "GovCloud",
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
    ),
    (
        "GovCloud FIPS",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
    ),
    (
        "EU sovereign cloud",
        "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
    ),
    ("ISO", "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
    ("ISO-B", "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
    (
        "ISO-E",
        "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
    ),
    (
        "ISO-F",
        "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
    ),
    ("ECR Public", "public.ecr.aws"),
    ("ECR Public dual-stack", "ecr-public.aws.com"),
];

#[test]
fn documented_match_images_cover_every_host_form() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/kubelet-credential-provider.md"
    ))
    .unwrap();
    let yaml = docs
        .split("```yaml")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.contains("kind: CredentialProviderConfig"))
        .expect("a CredentialProviderConfig in the docs");
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(config["apiVersion"], "kubelet.config.k8s.io/v1");
    let provider = &config["providers"][0];
    assert_eq!(provider["name"], "rancher-ecr-credentials");
    assert_eq!(provider["apiVersion"], V1);
    assert_eq!(provider["args"][0], "kubelet-credential-provider");
    assert!(provider["defaultCacheDuration"].is_string());
    let patterns: Vec<&str> = provider["matchImages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for pattern in &patterns {
        let served = HOST_FORMS
            .iter()
            .find(|(_, host)| kubelet_matches(pattern, &format!("{host}/app")));
        assert!(
            served.is_some(),
            "{pattern} matches no documented host form"
        );
    }
    for (form, host) in HOST_FORMS {
        let image = format!("{host}/team/app");
        assert!(
            patterns.iter().any(|p| kubelet_matches(p, &image)),
            "no matchImages entry matches the {form} form ({host})"
        );
        // And the provider itself knows the form.
        let parsed = parse_ecr_host(host);
        assert!(parsed.is_ok(), "{form}: {parsed:?}");
    }
    // The troubleshooting table quotes the messages the provider prints.
    for message in [
        "no AWS credentials found",
        "the EC2 instance metadata service (IMDS) did not answer",
        "AWS denied ecr:GetAuthorizationToken",
        "AWS throttled",
        "cannot reach the ECR endpoint",
        "no ECR token for",
        "bad request",
    ] {
        assert!(
            docs.contains(message),
            "the docs do not explain {message:?}"
        );
    }
}

// ------------------------------------------------- the library's paths

// The library items these checks call, each named in one function only.

/// The daemon's parse of configuration file `text`, read from `path`, with
/// its targets resolved.
fn parse_config_file(path: &Path, text: &str) -> Result<(), String> {
    use rancher_ecr_credentials::config_file::ConfigFile;
    use rancher_ecr_credentials::daemon::config::targets::decide_targets;
    ConfigFile::parse(path, text)
        .and_then(|file| decide_targets(&file))
        .map(drop)
        .map_err(|err| err.to_string())
}

/// The provider's parse of `host` as an ECR registry host.
fn parse_ecr_host(host: &str) -> Result<(), String> {
    use rancher_ecr_credentials::ecr_host::EcrHost;
    use rancher_ecr_credentials::registry_host::RegistryHost;
    let host = RegistryHost::parse(host).unwrap();
    EcrHost::parse(&host)
        .map(drop)
        .map_err(|err| format!("{err:?}"))
}

/// The README's account of the health listener's limits says what the code
/// enforces (src/daemon/health/connections.rs).
#[test]
fn readme_listener_limits_match_the_code() {
    use rancher_ecr_credentials::daemon::health::{
        HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_SIZE, REQUEST_TIMEOUT,
    };
    let readme = read("README.md");
    let start = readme
        .find("Whoever reaches it cannot starve the refresh")
        .expect("the README's listener paragraph");
    let paragraph: String = readme[start..]
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for said in [
        format!("serves at most {MAX_CONNECTIONS} connections at once"),
        format!(
            "not complete {} s after it opened",
            HEADER_READ_TIMEOUT.as_secs()
        ),
        format!("within {} s of its request", REQUEST_TIMEOUT.as_secs()),
        format!("a head over {} KiB with `431`", MAX_HEADER_SIZE / 1024),
        format!("the descriptors of {MAX_CONNECTIONS} connections at most"),
        "rancher_ecr_credentials_health_connections_refused_total".to_string(),
    ] {
        assert!(
            paragraph.contains(&said),
            "README.md should say {said:?}: {paragraph}"
        );
    }
}
