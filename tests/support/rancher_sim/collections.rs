//! Collection queries (docs/rancher-api.md §3, §4): filters with modifiers,
//! sort and order, offset markers and limits, hidden removed objects, and the
//! collection JSON around the page.
//!
//! Cattle silently ignores what it does not understand (a key that is not a
//! filter of the type, a modifier its class lacks, a sort on a non-column), so
//! this module drops such keys rather than failing: a client that relies on
//! an ignored filter gets the full list here, as it would from Rancher.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::render::{resource, Item};
use super::routes::Ctx;
use super::schema::{parse_id, schema, Class, Kind, Schema};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 3000;
const MODIFIERS: [&str; 9] = [
    "eq", "ne", "lt", "lte", "gt", "gte", "prefix", "null", "notnull",
];
/// Query keys that are options, not filters.
const OPTIONS: [&str; 6] = ["limit", "marker", "sort", "order", "projectId", "action"];

struct Condition<'a> {
    name: &'a str,
    class: Class,
    modifier: &'a str,
    value: &'a str,
}

/// The filters of the query that apply to `schema`; `name_mod` splits at the last `_`.
fn conditions<'a>(ctx: &'a Ctx, schema: &Schema) -> Vec<Condition<'a>> {
    let query = ctx.inc.query.iter();
    let filters = query.filter(|q| !q.key.starts_with('_') && !OPTIONS.contains(&q.key.as_str()));
    filters
        .filter_map(|q| {
            let (name, modifier) = match q.key.rsplit_once('_') {
                Some((name, m)) if !name.is_empty() && MODIFIERS.contains(&m) => (name, m),
                _ => (q.key.as_str(), "eq"),
            };
            let class = schema.filter_class(name)?;
            class.modifiers().contains(&modifier).then_some(Condition {
                name,
                class,
                modifier,
                value: &q.value,
            })
        })
        .collect()
}

/// A reference as the server parses it: unparseable becomes -1, matching nothing (§4).
fn parsed_ref(value: &str) -> i128 {
    parse_id(value).map_or(-1, i128::from)
}

fn text(raw: &Value) -> Option<String> {
    match raw {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Compares two non-null values of `class`; strings ignore case (MySQL's collation).
fn compare(class: Class, a: &str, b: &str) -> Option<Ordering> {
    match class {
        Class::Id | Class::Reference => Some(parsed_ref(a).cmp(&parsed_ref(b))),
        Class::Int => a.parse::<f64>().ok()?.partial_cmp(&b.parse::<f64>().ok()?),
        _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
    }
}

fn matches(cond: &Condition, raw: &Value) -> bool {
    match cond.modifier {
        "null" => return raw.is_null(),
        "notnull" => return !raw.is_null(),
        _ => {}
    }
    // SQL semantics: NULL compares as unknown.
    let Some(text) = text(raw) else {
        return false;
    };
    let ordering = compare(cond.class, &text, cond.value);
    let (text, value) = (text.to_lowercase(), cond.value.to_lowercase());
    match cond.modifier {
        "eq" => ordering == Some(Ordering::Equal),
        "ne" => ordering.is_some_and(Ordering::is_ne),
        "lt" => ordering.is_some_and(Ordering::is_lt),
        "lte" => ordering.is_some_and(Ordering::is_le),
        "gt" => ordering.is_some_and(Ordering::is_gt),
        "gte" => ordering.is_some_and(Ordering::is_ge),
        "prefix" => text.starts_with(&value),
        _ => false,
    }
}

/// `<request URL>?<its query minus the keys in drop>&<extra>`.
fn url_with(ctx: &Ctx, drop: &[&str], extra: &str) -> String {
    let kept = ctx
        .inc
        .query
        .iter()
        .filter(|q| !drop.contains(&q.key.as_str()));
    let mut parts: Vec<&str> = kept.map(|q| q.raw.as_str()).collect();
    parts.push(extra);
    format!("{}?{}", ctx.inc.self_url, parts.join("&"))
}

/// The collection JSON of one page of `items` (§3, §4).
pub(super) fn list(ctx: &Ctx, kind: Kind, mut items: Vec<Item>) -> Value {
    let schema = schema(kind, ctx.email);
    let query = |key| ctx.inc.query_first(key);

    if query("_removed").is_none_or(|v| v.eq_ignore_ascii_case("false")) {
        items.retain(|i| i.meta.removed.is_none());
    }
    let conds = conditions(ctx, schema);
    items.retain(|i| conds.iter().all(|c| matches(c, &i.column(c.name))));

    let sort = query("sort").and_then(|f| Some((f, schema.filter_class(f)?)));
    let descending = query("order").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    items.sort_by(|a, b| {
        let primary = sort.map_or(Ordering::Equal, |(name, class)| {
            match (text(&a.column(name)), text(&b.column(name))) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => compare(class, &a, &b).unwrap_or(Ordering::Equal),
            }
        });
        primary.then(a.meta.num.cmp(&b.meta.num))
    });
    if descending {
        items.reverse();
    }

    let limit = match query("limit").map(str::parse::<i64>) {
        None | Some(Err(_)) => DEFAULT_LIMIT,
        Some(Ok(n)) if n <= 0 => MAX_LIMIT,
        Some(Ok(n)) => (n as usize).min(MAX_LIMIT),
    };
    let offset = query("marker")
        .and_then(|m| m.strip_prefix('m')?.parse::<usize>().ok())
        .unwrap_or(0);
    let partial = items.len() > offset + limit;
    let next = partial.then(|| url_with(ctx, &["marker"], &format!("marker=m{}", offset + limit)));
    let data: Vec<Value> = (items.iter().skip(offset).take(limit))
        .map(|i| resource(ctx, i))
        .collect();

    let filters: Map<String, Value> = (schema.filters.iter())
        .map(|(name, class)| {
            let used: Vec<Value> = (conds.iter().filter(|c| c.name == *name))
                .map(|c| {
                    let value = match class {
                        Class::Id | Class::Reference => parsed_ref(c.value).to_string(),
                        _ => c.value.to_string(),
                    };
                    json!({"modifier": c.modifier, "value": value})
                })
                .collect();
            let entry = if used.is_empty() {
                Value::Null
            } else {
                json!(used)
            };
            (name.to_string(), entry)
        })
        .collect();
    let sort_links: Map<String, Value> = (schema.filters.iter())
        .filter(|(name, _)| schema.field(name).is_some())
        .map(|(name, _)| {
            let url = url_with(ctx, &["sort", "order", "marker"], &format!("sort={name}"));
            (name.to_string(), json!(url))
        })
        .collect();
    let sort = sort.map(|(name, _)| {
        let (order, reverse) = if descending {
            ("desc", "asc")
        } else {
            ("asc", "desc")
        };
        let reverse = url_with(ctx, &["order", "marker"], &format!("order={reverse}"));
        json!({"name": name, "order": order, "reverse": reverse})
    });

    json!({
        "type": "collection",
        "resourceType": schema.id,
        "links": {"self": ctx.inc.self_url},
        "createTypes": {},
        "actions": {},
        "createDefaults": {},
        "data": data,
        "sortLinks": sort_links,
        "pagination": {
            "first": null,
            "previous": null,
            "next": next,
            "limit": limit,
            "total": null,
            "partial": partial,
        },
        "sort": sort,
        "filters": filters,
    })
}
