//! Listing a collection (docs/rancher-api.md §4): every page, or an error;
//! never a part taken for the whole.
//!
//! Why bounded in total: each page is bounded (4 MiB, `bounded.rs`), but a
//! server that keeps handing out `pagination.next` could still grow the
//! daemon page by page, and a cycle that went on with the pages it had read
//! would create registries and credentials that exist on the pages it did
//! not read. So a listing stops at [`MAX_PAGES`] pages, [`MAX_LISTED_ITEMS`]
//! items or [`MAX_LISTED_BYTES`] bytes, and passing one is an error that
//! names the listing's URL and the limit.
//!
//! Why every page is checked for its scope: what a listing holds decides
//! what is written, so a page must say (`X-API-Account-Id`, §1) that it was
//! read in the environment the writes are meant for. And an object that
//! cannot be attributed (no `accountId`, or for a credential no
//! `registryId`, both always set by Rancher, §3) makes the listing unusable:
//! ignoring it would make its registry look empty, and a credential would
//! be created beside it every cycle.

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::transport::check_acted_in;
use super::wire::{decode, Collection, Credential, Registry};
use super::{RancherClient, RancherError};

/// Large pages keep a cycle to one list request for all but huge
/// environments (the server clamps at 3000; §4).
pub(crate) const PAGE_LIMIT: u32 = 1000;
/// A guard against a server that keeps handing out `next` links: ten times
/// the pages that [`MAX_LISTED_ITEMS`] take even at Cattle's default page
/// size of 100.
pub(crate) const MAX_PAGES: usize = 1000;
/// The most items one listing (registries, a registry's credentials,
/// environments) may hold. A Rancher environment rarely has more than a few
/// hundred registries (the benchmarks use 200, docs/benchmarks.md), and a
/// registry one credential; 10,000 is fifty times that, and still ten pages.
pub(crate) const MAX_LISTED_ITEMS: usize = 10_000;
/// The most response bytes one listing may take: 10,000 registries as
/// Rancher renders them (about 1 KB each, tests/hostile.rs measures a page)
/// fit with room; what a hostile server can make the daemon keep from one
/// listing stays at four page limits.
pub(crate) const MAX_LISTED_BYTES: usize = 16 << 20;

/// What one listing has taken so far, against its limits.
#[derive(Debug, Default)]
struct Tally {
    pages: usize,
    items: usize,
    bytes: usize,
}

impl Tally {
    /// Counts a page of `bytes` before it is decoded; the reason when that
    /// passes a limit.
    fn page(&mut self, bytes: usize) -> Result<(), String> {
        self.pages += 1;
        self.bytes += bytes;
        if self.bytes > MAX_LISTED_BYTES {
            return Err(format!(
                "the listing is larger than {} MiB (the limit of one listing) after {} pages; \
                 abandoned rather than used in part",
                MAX_LISTED_BYTES >> 20,
                self.pages
            ));
        }
        Ok(())
    }

    /// Whether another page may be read; the reason when not.
    fn next_page(&self) -> Result<(), String> {
        if self.pages >= MAX_PAGES {
            return Err(format!(
                "its pagination does not end (more than {MAX_PAGES} pages, the limit of one \
                 listing); abandoned rather than used in part"
            ));
        }
        Ok(())
    }

    /// Counts the items of the page just decoded.
    fn items(&mut self, items: usize) -> Result<(), String> {
        self.items += items;
        if self.items > MAX_LISTED_ITEMS {
            return Err(format!(
                "it lists more than {MAX_LISTED_ITEMS} items (the limit of one listing) by page \
                 {}; abandoned rather than used in part",
                self.pages
            ));
        }
        Ok(())
    }
}

/// Every item of a collection, and the headers of its first page.
pub(super) struct Listing<T> {
    pub(super) items: Vec<T>,
    pub(super) headers: HeaderMap,
}

impl RancherClient {
    /// Every item of the collection at `url`, following `pagination.next`
    /// within the limits above. `project_id` scopes each request by header;
    /// `acting_in`, when set, is the account every page must say it was
    /// read in.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        mut url: Url,
        project_id: Option<&str>,
        acting_in: Option<&str>,
    ) -> Result<Listing<T>, RancherError> {
        url.query_pairs_mut()
            .append_pair("limit", &PAGE_LIMIT.to_string());
        let listing = url.clone();
        let over = |reason| RancherError::BadResponse {
            url: listing.to_string(),
            reason,
        };
        let (mut items, mut first_headers) = (Vec::new(), None);
        let mut tally = Tally::default();
        let mut seen = std::collections::HashSet::new();
        loop {
            let answer = self.send(Method::GET, &url, project_id, None).await?;
            tally.page(answer.body.len()).map_err(over)?;
            if let Some(expected) = acting_in {
                check_acted_in(&url, &answer.headers, expected)?;
            }
            let page: Collection<T> = decode(&url, &answer.body)?;
            tally.items(page.data.len()).map_err(over)?;
            items.extend(page.data);
            first_headers.get_or_insert(answer.headers);
            let Some(next) = page.pagination.and_then(|p| p.next) else {
                let headers = first_headers.unwrap_or_default();
                return Ok(Listing { items, headers });
            };
            tally.next_page().map_err(over)?;
            seen.insert(url.to_string());
            url = self.rebase(&next)?;
            if seen.contains(url.as_str()) {
                return Err(RancherError::BadResponse {
                    url: url.to_string(),
                    reason: "its pagination does not end: `next` leads back to a page already \
                             read"
                        .into(),
                });
            }
        }
    }
}

/// The registries of `environment`: those of other environments are left
/// out; one without an `accountId` makes the listing unusable.
pub(super) fn own_registries(
    listed: Vec<Registry>,
    environment: &str,
) -> Result<Vec<Registry>, String> {
    let mut own = Vec::with_capacity(listed.len());
    for registry in listed {
        match registry.account_id.as_deref() {
            None => return Err(unattributable("registry", &registry.id, "accountId")),
            Some(account) if account == environment => own.push(registry),
            Some(_) => {}
        }
    }
    Ok(own)
}

/// The credentials of `registry_id` in `environment`: those of other
/// registries or environments are left out; one without a `registryId` or
/// an `accountId` makes the listing unusable (its registry could look as
/// if it had none, and get another every cycle).
pub(super) fn own_credentials(
    listed: Vec<Credential>,
    registry_id: &str,
    environment: &str,
) -> Result<Vec<Credential>, String> {
    let mut own = Vec::with_capacity(listed.len());
    for credential in listed {
        let (Some(registry), Some(account)) = (
            credential.registry_id.as_deref(),
            credential.account_id.as_deref(),
        ) else {
            let field = match credential.registry_id {
                None => "registryId",
                Some(_) => "accountId",
            };
            return Err(unattributable("credential", &credential.id, field));
        };
        if registry == registry_id && account == environment {
            own.push(credential);
        }
    }
    Ok(own)
}

fn unattributable(kind: &str, id: &str, field: &str) -> String {
    format!(
        "{kind} {id} has no {field}, which Rancher always sets (docs/rancher-api.md §3): \
         what the listing holds cannot be told apart, so nothing is written or created \
         from it this cycle"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_may_reach_each_limit_but_not_pass_it() {
        let mut tally = Tally::default();
        for _ in 0..MAX_LISTED_ITEMS / 1000 {
            tally.page(1 << 20).unwrap();
            tally.items(1000).unwrap();
        }
        let reason = tally.items(1).unwrap_err();
        assert!(reason.contains("more than 10000 items"), "{reason}");
        assert!(reason.contains("by page 10"), "{reason}");

        let mut tally = Tally::default();
        for _ in 0..MAX_LISTED_BYTES / (4 << 20) {
            tally.page(4 << 20).unwrap();
        }
        let reason = tally.page(1).unwrap_err();
        assert!(reason.contains("larger than 16 MiB"), "{reason}");

        let mut tally = Tally::default();
        for _ in 0..MAX_PAGES - 1 {
            tally.page(0).unwrap();
            tally.items(0).unwrap();
            tally.next_page().unwrap();
        }
        tally.page(0).unwrap();
        let reason = tally.next_page().unwrap_err();
        assert!(reason.contains("more than 1000 pages"), "{reason}");
    }

    fn registry(id: &str, account: Option<&str>) -> Registry {
        serde_json::from_value(serde_json::json!({"id": id, "accountId": account})).unwrap()
    }

    fn credential(id: &str, registry: Option<&str>, account: Option<&str>) -> Credential {
        let json = serde_json::json!({"id": id, "registryId": registry, "accountId": account});
        serde_json::from_value(json).unwrap()
    }

    fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&str> {
        items.iter().map(id).collect()
    }

    #[test]
    fn registries_of_other_environments_are_left_out_and_unknown_ones_refused() {
        let listed = vec![
            registry("1sp1", Some("1a5")),
            registry("1sp2", Some("1a7")),
            registry("1sp3", Some("1a5")),
        ];
        let own = own_registries(listed.clone(), "1a5").unwrap();
        assert_eq!(ids(&own, |r| &r.id), ["1sp1", "1sp3"]);
        let mut listed = listed;
        listed.push(registry("1sp4", None));
        let reason = own_registries(listed, "1a5").unwrap_err();
        assert!(
            reason.starts_with("registry 1sp4 has no accountId"),
            "{reason}"
        );
    }

    #[test]
    fn credentials_that_cannot_be_attributed_make_the_listing_unusable() {
        let listed = vec![
            credential("1c1", Some("1sp5"), Some("1a5")),
            credential("1c2", Some("1sp6"), Some("1a5")),
            credential("1c3", Some("1sp5"), Some("1a7")),
            credential("1c4", Some("1sp5"), Some("1a5")),
        ];
        let own = own_credentials(listed.clone(), "1sp5", "1a5").unwrap();
        assert_eq!(ids(&own, |c| &c.id), ["1c1", "1c4"]);
        for (bad, field) in [
            (credential("1c9", None, Some("1a5")), "registryId"),
            (credential("1c9", Some("1sp5"), None), "accountId"),
            (credential("1c9", None, None), "registryId"),
        ] {
            let mut listed = listed.clone();
            listed.push(bad);
            let reason = own_credentials(listed, "1sp5", "1a5").unwrap_err();
            let expected = format!("credential 1c9 has no {field}");
            assert!(reason.starts_with(&expected), "{reason}");
        }
    }
}
