//! `rancher-ecr-credentials kubelet-credential-provider`: the kubelet's
//! image credential provider for Amazon ECR (docs/kubelet-credential-provider.md).
//!
//! The kubelet runs the binary once per cache miss, writes one request to
//! its stdin and reads one response from its stdout, and kills it after a
//! minute. So this mode is a short pipeline, one module per step:
//! [`protocol`] (decode the request) -> `image` (its registry host) ->
//! [`plan`] (region, API and identity, decided without I/O) -> [`aws`]
//! (credentials, STS, the token, each under its own timeout) -> [`protocol`]
//! (encode the response). [`failure`] words every way it can fail as the
//! single stderr line the kubelet logs; `--check-image` is the diagnostic
//! built on the kernel's `pull_check`.
//!
//! This mode is built on the kernel and the exit table, never on the
//! daemon: it shares the AWS vocabulary and the `--config` grammar with it,
//! not its settings.
//!
//! Stdout carries the response and nothing else; stderr carries one line
//! on failure, and on success only what the user should know (a token whose
//! expiry looks wrong). No logging is set up in this mode, so no library can
//! print either.

pub mod aws;
pub mod failure;
pub mod plan;
pub mod protocol;

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use crate::aws::EcrToken;
use crate::cli::{KubeletArgs as Args, KUBELET_SUBCOMMAND};
use crate::config_file::ConfigFile;
use crate::exit::Exit;
use crate::image::ImageRef;
use crate::pull_check::{probe_pull, PullCheck};
use failure::Failure;
use protocol::{Request, Response};

/// Every run ends within this: well inside the kubelet's hard minute, and
/// longer than the sum of the step timeouts, which fire first.
pub const DEADLINE: Duration = Duration::from_secs(45);

/// A request larger than this is not one (a service-account token is a
/// few kilobytes).
const MAX_REQUEST_BYTES: u64 = 1024 * 1024;

/// Runs the mode to completion and returns the exit status.
pub fn run(args: Args) -> Exit {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            say(&format!("cannot start the runtime: {err}"));
            return Exit::Failure;
        }
    };
    let code = runtime.block_on(async {
        match &args.check_image {
            Some(image) => check_pull(&args, image).await,
            None => answer_kubelet(&args).await,
        }
    });
    // A stdin read may still block a thread; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// A flag error in this mode: one stderr line (the kubelet logs stderr
/// whole), status 2. Other modes, `--help` and `--version` keep clap's own
/// output (`main` decides).
pub fn usage_error(err: &clap::Error) -> Exit {
    let rendered = err.to_string();
    let first = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid arguments");
    let first = first.trim().trim_start_matches("error:").trim();
    say(&format!(
        "configuration error: {first} (see {KUBELET_SUBCOMMAND} --help)"
    ));
    Exit::Config
}

/// One stderr line, prefixed with the program's name.
fn say(line: &str) {
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("rancher-ecr-credentials: {line}");
}

fn fail(failure: &Failure) -> Exit {
    say(&failure.to_string());
    failure.exit()
}

async fn answer_kubelet(args: &Args) -> Exit {
    if std::io::stdin().is_terminal() {
        return fail(&Failure::BadRequest {
            reason: "stdin is a terminal: the kubelet runs this command and writes a \
                     CredentialProviderRequest to its stdin (to try it by hand, pipe one in, \
                     or use --check-image IMAGE)"
                .into(),
        });
    }
    let run = async {
        let input = read_stdin().await?;
        let request = protocol::decode_request(&input)?;
        respond(args, &request).await
    };
    match tokio::time::timeout(DEADLINE, run).await {
        Ok(Ok((response, warning))) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{}", response.to_json())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                say("cannot write the response to stdout");
                return Exit::Failure;
            }
            if let Some(warning) = warning {
                say(&warning);
            }
            Exit::Success
        }
        Ok(Err(failure)) => fail(&failure),
        Err(_) => fail(&Failure::TimedOut {
            what: "reading the request and getting a token",
            after: DEADLINE,
        }),
    }
}

async fn read_stdin() -> Result<Vec<u8>, Failure> {
    // On a blocking thread: the deadline still applies to the wait.
    let read = tokio::task::spawn_blocking(|| {
        crate::bounded::read_to_limit(std::io::stdin().lock(), MAX_REQUEST_BYTES)
    });
    let bad = |reason: String| Failure::BadRequest { reason };
    match read.await {
        Err(err) => Err(bad(format!("cannot read stdin: {err}"))),
        Ok(Err(crate::bounded::FileError::TooLarge { limit })) => Err(bad(format!(
            "the request on stdin is larger than {limit} bytes"
        ))),
        Ok(Err(err)) => Err(bad(err.about("stdin"))),
        Ok(Ok(input)) => Ok(input),
    }
}

/// The response to a decoded request, and a warning for stderr.
async fn respond(args: &Args, request: &Request) -> Result<(Response, Option<String>), Failure> {
    let image = ImageRef::parse(&request.image).map_err(|reason| Failure::BadRequest { reason })?;
    let (_, token) = token_for(args, &image, request.service_account.as_ref()).await?;
    let cache = protocol::cache_duration(token.expires_at, SystemTime::now());
    let response = Response {
        api_version: request.api_version,
        cache_duration: cache.duration,
        registry: image.registry,
        username: token.username,
        password: token.password,
    };
    Ok((response, cache.warning))
}

/// Decides and fetches the token for `image`.
async fn token_for(
    args: &Args,
    image: &ImageRef,
    service_account: Option<&protocol::ServiceAccount>,
) -> Result<(plan::Plan, EcrToken), Failure> {
    let config = args
        .config
        .as_deref()
        .map(ConfigFile::load)
        .transpose()
        .map_err(|err| Failure::Config {
            reason: err.to_string(),
        })?;
    let ca_bundle = ca_bundle(args)?;
    let env_role_arn = std::env::var("AWS_ECR_ROLE_ARN").ok();
    let context = plan::Context {
        service_account,
        env_role_arn: env_role_arn.as_deref(),
        config: config.as_ref(),
    };
    let plan = plan::decide(image, context)?;
    let token = aws::fetch_token(&plan, image.host.as_str(), ca_bundle.as_deref()).await?;
    Ok((plan, token))
}

/// The PEM bundle of `--ca-file`, checked as the daemon checks it.
fn ca_bundle(args: &Args) -> Result<Option<Vec<u8>>, Failure> {
    args.ca_file
        .as_ref()
        .map(|path| crate::tls::read_ca_bundle(&path.to_string_lossy()))
        .transpose()
        .map_err(|reason| Failure::Config {
            reason: format!("CA_FILE (--ca-file) is invalid: {reason}"),
        })
}

/// `--check-image`: a report for a person on stdout, non-zero if the image
/// cannot be pulled.
async fn check_pull(args: &Args, image: &str) -> Exit {
    let started = std::time::Instant::now();
    let run = async {
        let image = ImageRef::parse(image).map_err(|reason| Failure::BadRequest { reason })?;
        let (plan, token) = token_for(args, &image, None).await?;
        Ok::<_, Failure>((image, plan, token))
    };
    let (image, plan, token) = match tokio::time::timeout(DEADLINE, run).await {
        Ok(Ok(found)) => found,
        Ok(Err(failure)) => {
            println!("FAIL token: {failure}");
            return failure.exit();
        }
        Err(_) => {
            println!(
                "FAIL token: no token within {}",
                humantime::format_duration(DEADLINE)
            );
            return Exit::Failure;
        }
    };
    println!(
        "ok   token: for {} from {} (expires {})",
        image.registry,
        plan.region(),
        token.expiry_text()
    );
    // Read and checked by `token_for` already.
    let ca_bundle = ca_bundle(args).ok().flatten();
    // The whole run stays within the deadline, the pull check included.
    let left = DEADLINE.saturating_sub(started.elapsed());
    let checked = probe_pull(
        &image,
        &token.username,
        &token.password,
        plan.region(),
        ca_bundle.as_deref(),
    );
    let result = match tokio::time::timeout(left, checked).await {
        Ok(result) => result,
        Err(_) => PullCheck {
            pullable: false,
            summary: format!(
                "the registry did not answer within the {} deadline",
                humantime::format_duration(DEADLINE)
            ),
        },
    };
    let verdict = if result.pullable { "ok  " } else { "FAIL" };
    println!("{verdict} pull: {}", result.summary);
    if result.pullable {
        Exit::Success
    } else {
        Exit::Failure
    }
}
