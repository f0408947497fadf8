//! Packaging: the Dockerfile lints clean, the binary it would ship runs
//! alone in an empty root, and the Rancher catalog item renders for each way
//! of answering it and sets only variables the binary reads. The checks of
//! the documentation against the binary are in tests/docs.rs.

#[path = "support/release_binary.rs"]
mod release_binary;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use support::daemon::{
    moto_password, ACCOUNT, AWS_ACCESS_KEY, AWS_SECRET_KEY, ECR_HOST, RANCHER_ACCESS_KEY,
    RANCHER_SECRET_KEY,
};
use support::moto::Moto;
use support::rancher_sim::RancherSim;
use support::repo::{help, help_options, read, repo, ITEM};
use support::tls_front::TlsFront;

#[test]
fn dockerfile_passes_hadolint() {
    let hadolint = repo(".venv/bin/hadolint");
    assert!(
        hadolint.exists(),
        "hadolint missing: run ./scripts/test, which installs it into .venv"
    );
    let output = Command::new(hadolint)
        .arg(repo("Dockerfile"))
        .output()
        .expect("hadolint runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("FROM scratch"));
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(dockerfile.contains("EXPOSE 8080"));
    for label in ["source", "version", "revision", "licenses"] {
        assert!(
            dockerfile.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label}"
        );
    }
}

/// The image copies each platform's release binary from dist/ by
/// TARGETARCH, and nothing else from the build context: after
/// scripts/release both files exist, and .dockerignore lets them in.
#[test]
fn docker_context_holds_each_platforms_binary() {
    let dockerfile = read("Dockerfile");
    let sources: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        sources,
        ["dist/rancher-ecr-credentials-linux-${TARGETARCH}"]
    );
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for (_, arch) in release_binary::TARGETS {
        let source = sources[0].replace("${TARGETARCH}", arch);
        assert!(
            repo(&source).exists(),
            "{source} missing: run scripts/release"
        );
        // The last pattern that matches decides, `!` letting a path in.
        let decisive = patterns
            .iter()
            .rev()
            .find(|p| glob_matches(p.trim_start_matches('!'), &source));
        assert!(
            decisive.is_some_and(|p| p.starts_with('!')),
            ".dockerignore keeps {source} out of the build context"
        );
    }
}

/// .dockerignore's globs, as far as this repository uses them: `*` alone
/// matches everything, else `*` matches within one path segment.
fn glob_matches(pattern: &str, path: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('*') {
        None => pattern == path,
        Some((prefix, suffix)) => {
            path.len() >= prefix.len() + suffix.len()
                && path.starts_with(prefix)
                && path.ends_with(suffix)
                && !path[prefix.len()..path.len() - suffix.len()].contains('/')
        }
    }
}

/// The catalog's questions, as (variable, default).
fn questions() -> Vec<(String, Option<String>)> {
    let compose: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(&format!("{ITEM}/0/rancher-compose.yml"))).unwrap();
    compose["catalog"]["questions"]
        .as_sequence()
        .expect("questions")
        .iter()
        .map(|q| {
            let variable = q["variable"].as_str().expect("variable").to_string();
            let default = q["default"].as_str().map(str::to_string);
            (variable, default)
        })
        .collect()
}

/// Renders docker-compose.yml.tpl as Rancher does: Go's text/template over
/// `.Values`, then `${variable}` interpolation of the answers.
fn render(answers: &HashMap<&str, &str>) -> serde_yaml_ng::Value {
    let mut values: HashMap<String, String> = questions()
        .into_iter()
        .map(|(variable, default)| (variable, default.unwrap_or_default()))
        .collect();
    for (key, value) in answers {
        values.insert(key.to_string(), value.to_string());
    }
    let context: HashMap<String, gtmpl::Value> = HashMap::from([(
        "Values".to_string(),
        gtmpl::Value::Object(
            values
                .iter()
                .map(|(k, v)| (k.clone(), gtmpl::Value::from(v.as_str())))
                .collect(),
        ),
    )]);
    let template = read(&format!("{ITEM}/0/docker-compose.yml.tpl"));
    let mut text = gtmpl::template(&template, gtmpl::Value::Object(context)).expect("renders");
    for (key, value) in &values {
        text = text.replace(&format!("${{{key}}}"), value);
    }
    assert!(!text.contains("${"), "uninterpolated variable in\n{text}");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

#[test]
fn catalog_item_renders_for_the_current_environment() {
    let compose = render(&HashMap::from([("aws_region", "eu-west-1")]));
    let service = &compose["services"]["ecr-updater"];
    assert!(service["image"]
        .as_str()
        .unwrap()
        .contains("rancher-ecr-credentials"));
    let labels = &service["labels"];
    assert_eq!(labels["io.rancher.container.create_agent"], "true");
    assert_eq!(labels["io.rancher.container.agent.role"], "environment");
    let env = &service["environment"];
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AUTO_CREATE"], "false");
    assert_eq!(env["LISTEN_PORT"], "8080");
    // The agent labels provide CATTLE_*; empty AWS keys are not set at all
    // (an empty key would hide the IAM role).
    for absent in [
        "CATTLE_URL",
        "CATTLE_ACCESS_KEY",
        "CATTLE_SECRET_KEY",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(env.get(absent).is_none(), "{absent} in {env:?}");
    }
}

#[test]
fn catalog_item_renders_for_another_environment() {
    let compose = render(&HashMap::from([
        ("registry_in_which_environment", "other"),
        (
            "environment_api_endpoint",
            "http://rancher:8080/v2-beta/projects/1a7",
        ),
        ("environment_api_access_key", "0123456789ABCDEF0123"),
        ("environment_api_secret_key", "secret"),
        ("aws_access_key_id", "AKIAEXAMPLE"),
        ("aws_secret_access_key", "aws-secret"),
        ("aws_role_arn", "arn:aws:iam::123456789012:role/ecr-pull"),
    ]));
    let service = &compose["services"]["ecr-updater"];
    let env = &service["environment"];
    assert_eq!(
        env["CATTLE_URL"],
        "http://rancher:8080/v2-beta/projects/1a7"
    );
    assert_eq!(env["CATTLE_ACCESS_KEY"], "0123456789ABCDEF0123");
    assert_eq!(env["CATTLE_SECRET_KEY"], "secret");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "AKIAEXAMPLE");
    assert_eq!(
        env["AWS_ROLE_ARN"],
        "arn:aws:iam::123456789012:role/ecr-pull"
    );
    assert!(service["labels"]
        .get("io.rancher.container.create_agent")
        .is_none());
}

/// The variables a rendered item sets.
fn environment_names(compose: &serde_yaml_ng::Value) -> BTreeSet<String> {
    compose["services"]["ecr-updater"]["environment"]
        .as_mapping()
        .expect("an environment mapping")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// Serving several environments needs the "other" endpoint and key (an
/// account key); the agent labels' environment key sees one environment, so
/// with "current" the list is not passed on.
#[test]
fn catalog_item_renders_for_several_environments() {
    let compose = render(&HashMap::from([
        ("registry_in_which_environment", "other"),
        ("environment_api_endpoint", "http://rancher:8080/v2-beta"),
        ("environment_api_access_key", "0123456789ABCDEF0123"),
        ("environment_api_secret_key", "secret"),
        ("rancher_environments", "Default,prod,1a9"),
        ("ecr_discover", "true"),
    ]));
    let env = &compose["services"]["ecr-updater"]["environment"];
    assert_eq!(env["RANCHER_ENVIRONMENTS"], "Default,prod,1a9");
    assert_eq!(env["CATTLE_URL"], "http://rancher:8080/v2-beta");
    assert_eq!(env["ECR_DISCOVER"], "true");

    let current = render(&HashMap::from([("rancher_environments", "all")]));
    let env = &current["services"]["ecr-updater"]["environment"];
    assert!(env.get("RANCHER_ENVIRONMENTS").is_none(), "{env:?}");
    assert_eq!(env["ECR_DISCOVER"], "false");
    assert!(current["services"]["ecr-updater"].get("volumes").is_none());
}

/// With a configuration directory the file says which identities,
/// environments and registries: the settings it replaces (which the daemon
/// refuses beside it) are left out whatever was answered, and CONFIG_FILE
/// names a file inside the read-only mount.
#[test]
fn catalog_item_renders_with_a_configuration_directory() {
    let compose = render(&HashMap::from([
        ("config_directory", "/srv/ecr-updater"),
        ("aws_ecr_registry_ids", "123456789012"),
        ("aws_role_arn", "arn:aws:iam::123456789012:role/ecr-pull"),
        ("aws_role_external_id", "ext"),
        ("ecr_proxy_host", "registry.example.com"),
        ("auto_create", "true"),
        ("ecr_discover", "true"),
        ("registry_in_which_environment", "other"),
        ("environment_api_endpoint", "http://rancher:8080/v2-beta"),
        ("environment_api_access_key", "0123456789ABCDEF0123"),
        ("environment_api_secret_key", "secret"),
        ("rancher_environments", "all"),
    ]));
    let service = &compose["services"]["ecr-updater"];
    let env = &service["environment"];
    for replaced in [
        "AWS_ECR_REGISTRY_IDS",
        "AWS_ROLE_ARN",
        "AWS_ROLE_EXTERNAL_ID",
        "ECR_PROXY_HOST",
        "AUTO_CREATE",
        "ECR_DISCOVER",
        "RANCHER_ENVIRONMENTS",
    ] {
        assert!(env.get(replaced).is_none(), "{replaced} in {env:?}");
    }
    // A [[target]] without url and keys takes these.
    assert_eq!(env["CATTLE_URL"], "http://rancher:8080/v2-beta");
    let config_file = env["CONFIG_FILE"].as_str().expect("CONFIG_FILE");
    let volumes = service["volumes"].as_sequence().expect("volumes");
    assert_eq!(volumes.len(), 1);
    let (host, rest) = volumes[0].as_str().unwrap().split_once(':').unwrap();
    let (inside, mode) = rest.split_once(':').expect("a mount mode");
    assert_eq!((host, mode), ("/srv/ecr-updater", "ro"));
    assert!(
        config_file.starts_with(&format!("{inside}/")),
        "{config_file} is outside the mount {inside}"
    );

    let current = render(&HashMap::from([("config_directory", "/srv/ecr-updater")]));
    let labels = &current["services"]["ecr-updater"]["labels"];
    assert_eq!(labels["io.rancher.container.create_agent"], "true");
}

/// Every variable the item can set is one the binary reads (`--help`'s
/// environment names), or one of the AWS SDK's: a misspelt name would be
/// silently ignored by the daemon.
#[test]
fn catalog_item_sets_only_variables_the_binary_reads() {
    let questions = questions();
    let mut set = BTreeSet::new();
    for config_directory in ["", "/srv/ecr-updater"] {
        for environment in ["current", "other"] {
            // Every question answered, so every conditional variable shows.
            let answers: HashMap<&str, &str> = questions
                .iter()
                .map(|(variable, _)| {
                    let answer = match variable.as_str() {
                        "registry_in_which_environment" => environment,
                        "config_directory" => config_directory,
                        _ => "answered",
                    };
                    (variable.as_str(), answer)
                })
                .collect();
            set.extend(environment_names(&render(&answers)));
        }
    }
    let read: BTreeSet<String> = help_options(&help())
        .into_iter()
        .filter_map(|option| option.env)
        .chain(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map(String::from))
        .collect();
    let unknown: Vec<&String> = set.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "the catalog item sets {unknown:?}, which --help does not list"
    );
}

/// Names after `${` (interpolation) and `.Values.` (template logic).
fn template_variables(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for marker in ["${", ".Values."] {
        for piece in text.split(marker).skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_question_is_used_and_every_variable_asked() {
    let asked: BTreeSet<String> = questions().into_iter().map(|(v, _)| v).collect();
    let used = template_variables(&read(&format!("{ITEM}/0/docker-compose.yml.tpl")));
    assert_eq!(asked, used);

    // The environment template installs this item with known answers.
    let project: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read("catalog/project-templates/cattle-ecr/0/project.yml"))
            .unwrap();
    let stacks = project["stacks"].as_sequence().unwrap();
    // Rancher 1.6's default Cattle template (library project-templates/cattle).
    for default_stack in ["network-services", "ipsec", "scheduler", "healthcheck"] {
        assert!(
            stacks.iter().any(|s| s["name"] == default_stack),
            "{default_stack}"
        );
    }
    let ours = stacks
        .iter()
        .find(|s| {
            s["templateId"]
                .as_str()
                .unwrap()
                .ends_with(":infra*rancher-ecr-credentials")
        })
        .expect("the ECR updater stack");
    for (answer, _) in ours["answers"].as_mapping().unwrap() {
        assert!(
            asked.contains(answer.as_str().unwrap()),
            "{answer:?} is no question"
        );
    }
}

/// The image holds the binary and CA certificates only: run the static musl
/// release binary it ships in an empty root, reaching moto and the simulator
/// by IP.
#[tokio::test(flavor = "multi_thread")]
async fn static_binary_runs_alone_in_an_empty_root() {
    let binary = release_binary::require(release_binary::HOST);

    let sim = RancherSim::start().await;
    support::add_environment(&sim, "1a5");
    let registry = sim.add_registry("1a5", ECR_HOST, "active");
    let credential = sim.add_credential("1a5", &registry, "AWS", "stale", "active");
    // Rancher over https, trusted only through the image's CA bundle path.
    let port: u16 = sim.url().rsplit(':').next().unwrap().parse().unwrap();
    let front = TlsFront::start(port);

    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    std::fs::copy(&binary, root.join("rancher-ecr-credentials")).unwrap();
    std::fs::copy(
        &front.ca_file,
        root.join("etc/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();

    let chroot = which("chroot");
    let mut command = if running_as_root() {
        Command::new(chroot)
    } else {
        let mut c = Command::new(which("unshare"));
        c.arg("--map-root-user").arg(chroot);
        c
    };
    command
        .arg(&root)
        .args(["/rancher-ecr-credentials", "--once"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", &Moto::shared().endpoint)
        .env("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CATTLE_URL", format!("https://127.0.0.1:{}/v1", front.port))
        .env("CATTLE_ACCESS_KEY", RANCHER_ACCESS_KEY)
        .env("CATTLE_SECRET_KEY", RANCHER_SECRET_KEY);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("chroot runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stored = sim.credential(&credential).unwrap();
    assert_eq!(
        stored.secret_value.as_deref(),
        Some(moto_password(ACCOUNT).as_str())
    );
}

/// A program's full path, found before the child's environment is cleared.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| panic!("{program} not found"))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
