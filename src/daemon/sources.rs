//! Sources: the AWS identities tokens come from, and which registry hosts
//! each one serves.
//!
//! A source is one identity (the default credential chain, or a role
//! assumed on top of it) and the hosts it claims: with ECR_DISCOVER, every
//! ECR host of any region (and of AWS_ECR_REGISTRY_IDS' accounts when set);
//! from the config file, the ECR hosts of the `[[source]]`'s region (and of
//! its `registry_ids`), plus its aliases. Which source serves a host is a
//! pure decision ([`Sources::claim`]) over the host alone, so it is tested
//! without AWS or Rancher.
//!
//! An ECR token is regional and serves every registry its identity may
//! pull from in that region, so a cycle asks for one token per (source,
//! region), however many environments and registries need it:
//! [`CycleTokens`] is that per-cycle memo, shared by the environments'
//! tasks. A failed request is remembered for the cycle too (and reported on
//! each registry that needed it), so a failing region costs one AWS call
//! per cycle, not one per environment.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::aws::{EcrError, EcrToken};
use crate::daemon::token_source::TokenSource;
use crate::ecr_host::EcrHost;
use crate::registry_host::RegistryHost;

/// The AWS identities of the daemon, in the order they were configured.
#[derive(Debug)]
pub struct Sources {
    list: Vec<Source>,
}

/// One AWS identity and the hosts it serves.
#[derive(Debug)]
pub struct Source {
    /// The `[[source]]` name, or `environment` for the one the environment
    /// variables describe.
    pub name: String,
    pub tokens: TokenSource,
    /// The one region it serves (a `[[source]]`), or `None`: whatever region
    /// a host names (ECR_DISCOVER).
    pub region: Option<String>,
    /// Accounts whose hosts it serves; empty means every account.
    pub accounts: Vec<String>,
    /// Other names (mirrors, vanity hosts) for ECR registries of its region.
    pub aliases: BTreeMap<RegistryHost, EcrHost>,
    /// ECR_PROXY_HOST with ECR_DISCOVER: a pull proxy that stands for the
    /// source's own registry in its home region.
    pub proxy_host: Option<RegistryHost>,
}

/// A token to ask for: this source's, in this region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    pub source: usize,
    pub region: String,
}

/// What the sources make of one registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Write this token into the host's registries.
    Token(TokenKey),
    /// It names an ECR registry this daemon cannot serve (a malformed or
    /// ECR Public host); reported, not written.
    Unservable(String),
    /// Not an ECR host, or no source serves its region or account: none of
    /// this daemon's business.
    Unclaimed,
}

impl Sources {
    pub fn new(list: Vec<Source>) -> Sources {
        Sources { list }
    }

    pub fn get(&self, index: usize) -> &Source {
        &self.list[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Which of the `allowed` sources serves `host`, and with which
    /// region's token. Aliases first (an exact name), then ECR hosts: a
    /// source that lists the host's account beats one that takes every
    /// account; otherwise the first configured wins.
    pub fn claim(&self, host: &RegistryHost, allowed: &[usize]) -> Claim {
        let candidates = || allowed.iter().filter_map(|&i| Some((i, self.list.get(i)?)));
        for (index, source) in candidates() {
            if let Some(ecr) = source.aliases.get(host) {
                return match ecr {
                    EcrHost::Private(registry) => Claim::Token(TokenKey {
                        source: index,
                        region: registry.region.clone(),
                    }),
                    EcrHost::Public(_) => Claim::Unservable(format!(
                        "{host} is an alias of ECR Public, whose tokens this daemon does not \
                         write yet"
                    )),
                };
            }
        }
        for (index, source) in candidates() {
            if source.proxy_host.as_ref() == Some(host) {
                return Claim::Token(TokenKey {
                    source: index,
                    region: self.home_region(index).to_string(),
                });
            }
        }
        let registry = match EcrHost::parse(host) {
            Ok(EcrHost::Private(registry)) => registry,
            Ok(EcrHost::Public(_)) | Err(crate::ecr_host::EcrHostError::NotEcr { .. }) => {
                return Claim::Unclaimed
            }
            Err(err) => return Claim::Unservable(err.to_string()),
        };
        let serves = |source: &Source| {
            source
                .region
                .as_ref()
                .is_none_or(|region| *region == registry.region)
                && (source.accounts.is_empty() || source.accounts.contains(&registry.account_id))
        };
        let listed = candidates()
            .find(|(_, s)| serves(s) && s.accounts.contains(&registry.account_id))
            .or_else(|| candidates().find(|(_, s)| serves(s)));
        match listed {
            Some((index, _)) => Claim::Token(TokenKey {
                source: index,
                region: registry.region,
            }),
            None => Claim::Unclaimed,
        }
    }

    /// The region whose registries AUTO_CREATE creates for a source: its
    /// own, or the daemon's AWS_REGION for the environment's source.
    pub fn home_region(&self, index: usize) -> &str {
        let source = &self.list[index];
        source
            .region
            .as_deref()
            .unwrap_or_else(|| source.tokens.region())
    }
}

/// The hosts AUTO_CREATE makes sure exist for a source: those of its
/// accounts, or else the identity's own registry, the host of `token`
/// (asked in the source's home region). Other accounts' hosts are the
/// token's host with the account replaced, so they keep whatever form and
/// domain ECR answered with.
pub fn own_hosts(token: &EcrToken, accounts: &[String]) -> Vec<RegistryHost> {
    if accounts.is_empty() {
        return vec![token.host.clone()];
    }
    let Some((_, rest)) = token.host.as_str().split_once('.') else {
        return Vec::new();
    };
    accounts
        .iter()
        .filter_map(|account| RegistryHost::parse(&format!("{account}.{rest}")).ok())
        .collect()
}

/// Why a source's token could not be had, shared by every registry that
/// needed it this cycle.
#[derive(Debug, Clone)]
pub struct TokenFailure {
    pub source: String,
    pub region: String,
    pub error: Arc<EcrError>,
}

impl fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no ECR token for {} (source {}): {}",
            self.region, self.source, self.error
        )
    }
}

/// The most tokens one cycle asks for. Hosts come from Rancher, where
/// anyone who may add a registry could name made-up regions; each is at
/// most one call per cycle, and this bounds their number (the commercial
/// partition has about 35 regions).
pub const MAX_TOKENS_PER_CYCLE: usize = 64;

/// One (source, region)'s token of a cycle, or why there is none.
type TokenCell = OnceCell<Result<EcrToken, TokenFailure>>;

/// The tokens of one cycle: asked for once per (source, region), on first
/// need, and shared by every environment of the cycle.
pub struct CycleTokens {
    sources: Arc<Sources>,
    cells: Mutex<HashMap<TokenKey, Arc<TokenCell>>>,
}

impl CycleTokens {
    pub fn new(sources: Arc<Sources>) -> CycleTokens {
        CycleTokens {
            sources,
            cells: Mutex::default(),
        }
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The token for `key`: fetched by the first caller, awaited by the
    /// others, remembered (success or failure) for the rest of the cycle.
    pub async fn get(&self, key: &TokenKey) -> Result<EcrToken, TokenFailure> {
        let cell = {
            let mut cells = self
                .cells
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if cells.len() >= MAX_TOKENS_PER_CYCLE && !cells.contains_key(key) {
                return Err(TokenFailure {
                    source: self.sources.get(key.source).name.clone(),
                    region: key.region.clone(),
                    error: Arc::new(EcrError::NotAsked {
                        reason: format!(
                            "this cycle already asked for {MAX_TOKENS_PER_CYCLE} tokens, the \
                             most one cycle asks for (one per source and region); are the \
                             registries in Rancher pointing at that many regions?"
                        ),
                    }),
                });
            }
            cells.entry(key.clone()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let source = self.sources.get(key.source);
            source
                .tokens
                .fetch_region(&key.region)
                .await
                .map_err(|error| TokenFailure {
                    source: source.name.clone(),
                    region: key.region.clone(),
                    error: Arc::new(error),
                })
        })
        .await
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsSettings;
    use crate::daemon::metrics::Metrics;
    use crate::secret::Secret;

    fn host(text: &str) -> RegistryHost {
        RegistryHost::parse(text).unwrap()
    }

    /// Builds a source; no network call happens.
    async fn source(
        name: &str,
        region: Option<&str>,
        accounts: &[&str],
        aliases: &[(&str, &str)],
    ) -> Source {
        let tokens = TokenSource::new(
            &AwsSettings::default(),
            aws_sdk_ecr::config::Region::new("us-east-1"),
            None,
            Arc::new(Metrics::new()),
        )
        .await;
        Source {
            name: name.into(),
            tokens,
            region: region.map(str::to_string),
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            aliases: aliases
                .iter()
                .map(|(alias, ecr)| (host(alias), EcrHost::parse(&host(ecr)).unwrap()))
                .collect(),
            proxy_host: None,
        }
    }

    fn token(source: usize, region: &str) -> Claim {
        Claim::Token(TokenKey {
            source,
            region: region.into(),
        })
    }

    #[tokio::test]
    async fn a_discovering_source_claims_every_region_and_listed_accounts() {
        let sources = Sources::new(vec![source("env", None, &["210987654321"], &[]).await]);
        let all = [0];
        assert_eq!(
            sources.claim(
                &host("210987654321.dkr.ecr.ap-southeast-2.amazonaws.com"),
                &all
            ),
            token(0, "ap-southeast-2")
        );
        assert_eq!(
            sources.claim(
                &host("210987654321.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn"),
                &all
            ),
            token(0, "cn-north-1")
        );
        assert_eq!(
            sources.claim(&host("123456789012.dkr.ecr.us-east-1.amazonaws.com"), &all),
            Claim::Unclaimed,
            "another account"
        );
        assert_eq!(
            sources.claim(&host("index.docker.io"), &all),
            Claim::Unclaimed
        );
        assert_eq!(
            sources.claim(&host("public.ecr.aws"), &all),
            Claim::Unclaimed
        );
        assert!(matches!(
            sources.claim(&host("210987654321.dkr.ecr.us-east-1.vpce.amazonaws.com"), &all),
            Claim::Unservable(reason) if reason.contains("VPC endpoint")
        ));
        assert_eq!(
            sources.claim(
                &host("210987654321.dkr.ecr.ap-southeast-2.amazonaws.com"),
                &[]
            ),
            Claim::Unclaimed,
            "no source allowed"
        );
    }

    #[tokio::test]
    async fn the_source_listing_the_account_wins_then_the_first() {
        let sources = Sources::new(vec![
            source("any-eu", Some("eu-west-1"), &[], &[]).await,
            source("partner-eu", Some("eu-west-1"), &["210987654321"], &[]).await,
            source("other-eu", Some("eu-west-1"), &[], &[]).await,
            source(
                "us",
                Some("us-east-1"),
                &[],
                &[(
                    "registry.example.com",
                    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                )],
            )
            .await,
        ]);
        let all = [0, 1, 2, 3];
        let partner = host("210987654321.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(sources.claim(&partner, &all), token(1, "eu-west-1"));
        let own = host("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(sources.claim(&own, &all), token(0, "eu-west-1"));
        // A target that does not use the first source gets the next one.
        assert_eq!(sources.claim(&own, &[2, 3]), token(2, "eu-west-1"));
        assert_eq!(
            sources.claim(&host("123456789012.dkr.ecr.sa-east-1.amazonaws.com"), &all),
            Claim::Unclaimed,
            "no source has the region"
        );
        assert_eq!(
            sources.claim(&host("Registry.Example.com"), &all),
            token(3, "us-east-1")
        );
        assert_eq!(
            sources.claim(&host("registry.example.com"), &[0, 1, 2]),
            Claim::Unclaimed
        );
    }

    #[tokio::test]
    async fn a_cycle_asks_for_a_bounded_number_of_tokens() {
        let sources = Arc::new(Sources::new(vec![source("env", None, &[], &[]).await]));
        let cycle = CycleTokens::new(sources);
        {
            let mut cells = cycle.cells.lock().unwrap();
            for n in 0..MAX_TOKENS_PER_CYCLE {
                let key = TokenKey {
                    source: 0,
                    region: format!("us-made-{n}"),
                };
                cells.insert(key, Arc::default());
            }
        }
        let one_more = TokenKey {
            source: 0,
            region: "us-made-up-1".into(),
        };
        let failure = cycle.get(&one_more).await.unwrap_err();
        assert_eq!(failure.error.label(), "aws_not_asked");
        assert!(failure.to_string().contains("64 tokens"), "{failure}");
    }

    #[test]
    fn auto_create_hosts_follow_the_token_host() {
        let token = EcrToken {
            host: host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            username: "AWS".into(),
            password: Secret::new("x"),
            expires_at: None,
        };
        assert_eq!(own_hosts(&token, &[]), std::slice::from_ref(&token.host));
        assert_eq!(
            own_hosts(&token, &["210987654321".into()]),
            [host("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn")]
        );
    }
}
