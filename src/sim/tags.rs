//! The simulator's tags and domains: `POST /devices/tags` (tag or untag the devices a list of DevEUIs names) and
//! `POST /devices/domains` (add or remove domains on a list of DevEUIs), as the OpenAPI file defines their bodies,
//! and the checks of a `domains` array that a creation body may carry too.
//!
//! Domains are not a catalogue here: any well-formed `{name, group: {name}}` is taken (the platform also wants it
//! to exist and be `ACTIVE`). A tag call without `devEUIs` (tagging by search criteria) is refused: tpbulk never
//! sends one, and the simulator would otherwise tag a page of whatever the criteria match.

use super::api::admit_device_call;
use super::{ApiError, Sim};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// `POST /devices/tags?action=TAG|UNTAG` with `{name, devEUIs}`: 200 and the tag, whatever the EUIs match (an EUI
/// the subscription does not hold is simply not tagged). More EUIs than the listing's largest page is a 400.
pub(super) async fn tag_devices(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "POST /devices/tags").await?;
    let pairs = super::api::form_pairs(q.as_deref().unwrap_or(""));
    let untag = match super::devices::query_value(&pairs, "action") {
        None | Some("TAG") => false,
        Some("UNTAG") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid action: {other} (TAG or UNTAG)"
            )));
        }
    };
    let body = super::api::parse_json(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Invalid body: a tag name is required"))?;
    check_tag(name)?;
    let euis = eui_list(&body, sim.config.max_page_size, "Only tags/untags")?;
    let mut state = sim.lock();
    for eui in euis {
        let Some(view) = state.store.view_mut(&eui) else {
            continue;
        };
        let tags = tags_of(view);
        let at = tags
            .iter()
            .position(|t| t.get("name").and_then(Value::as_str) == Some(name));
        match (at, untag) {
            (None, false) => tags.push(json!({ "name": name })),
            (Some(i), true) => {
                tags.remove(i);
            }
            // Tagging twice or untagging a tag the device lacks changes nothing: the call is idempotent.
            (Some(_), false) | (None, true) => {}
        }
    }
    Ok(axum::Json(json!({ "name": name })).into_response())
}

/// `POST /devices/domains` with `{devEUIs, addedDomains, removedDomains}`: 204. An added domain replaces the
/// device's domain of the same group; removing a domain a device lacks is no error.
pub(super) async fn device_domains(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "POST /devices/domains").await?;
    let body = super::api::parse_json(&body)?;
    let euis = eui_list(&body, sim.config.max_page_size, "Add or remove domains on")?;
    if euis.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid devEUIs: at least one DevEUI is required",
        ));
    }
    let list = |field| {
        body.get(field)
            .map_or(Ok(Vec::new()), |l| domains_of(l, field))
    };
    let (added, removed) = (list("addedDomains")?, list("removedDomains")?);
    if added.is_empty() && removed.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid body: addedDomains or removedDomains is required",
        ));
    }
    if let Some(group) = added
        .iter()
        .map(group_of)
        .find(|g| removed.iter().any(|r| group_of(r) == *g))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid body: group {group} is in both addedDomains and removedDomains"
        )));
    }
    let mut state = sim.lock();
    for eui in euis {
        let Some(view) = state.store.view_mut(&eui) else {
            continue;
        };
        let domains = view
            .entry("domains")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(domains) = domains else {
            continue;
        };
        domains
            .retain(|d| !removed.contains(d) && !added.iter().any(|a| group_of(a) == group_of(d)));
        domains.extend(added.iter().cloned());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The device's `tags` array, made when missing.
fn tags_of(view: &mut Map<String, Value>) -> &mut Vec<Value> {
    let tags = view
        .entry("tags")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !tags.is_array() {
        *tags = Value::Array(Vec::new());
    }
    tags.as_array_mut().expect("made an array above")
}

/// The body's `devEUIs` in capitals: required here, at most `max` ("the maximum number of DevEUIs is the maximum
/// page size").
fn eui_list(body: &Value, max: usize, what: &str) -> Result<Vec<String>, ApiError> {
    let list = body
        .get("devEUIs")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid body: devEUIs is required by this simulator ({what} the devices it lists)"
            ))
        })?;
    if list.len() > max {
        return Err(ApiError::bad_request(format!(
            "Invalid devEUIs: {} DevEUIs, more than the maximum page size {max}",
            list.len()
        )));
    }
    list.iter()
        .map(|eui| {
            eui.as_str()
                .filter(|e| e.len() == 16 && e.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_uppercase)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid devEUIs: {eui} is not a DevEUI"))
                })
        })
        .collect()
}

/// The OpenAPI file's `TagName`: 1 to 40 characters, no control character, `<` or `>`, no space at either end.
fn check_tag(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    let ends = |c: Option<char>| c.is_some_and(|c| c == ' ');
    if !(1..=40).contains(&chars)
        || name.chars().any(|c| c.is_control() || c == '<' || c == '>')
        || ends(name.chars().next())
        || ends(name.chars().last())
    {
        return Err(ApiError::bad_request(format!("Invalid tag name: {name:?}")));
    }
    Ok(())
}

fn group_of(domain: &Value) -> &str {
    domain
        .pointer("/group/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A `domains` array (`Domain` items: `name` and `group.name`, the patterns of the OpenAPI file), as given.
pub fn domains_of(list: &Value, field: &str) -> Result<Vec<Value>, ApiError> {
    let bad = |why: String| ApiError::bad_request(format!("Invalid {field}: {why}"));
    let items = list
        .as_array()
        .ok_or_else(|| bad("an array is required".into()))?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let name = item.get("name").and_then(Value::as_str);
        let group = item.pointer("/group/name").and_then(Value::as_str);
        let (Some(name), Some(group)) = (name, group) else {
            return Err(bad(format!("{item} needs a name and a group.name")));
        };
        let part_ok = |part: &str, slash: bool| {
            let chars = part.chars().count();
            (1..=20).contains(&chars)
                && !part.starts_with(' ')
                && !part.ends_with(' ')
                && !part
                    .chars()
                    .any(|c| c.is_control() || matches!(c, ':' | '<' | '>') || (slash && c == '/'))
        };
        let levels: Vec<&str> = name.split('/').collect();
        if !part_ok(group, false) || levels.len() > 5 || !levels.iter().all(|l| part_ok(l, true)) {
            return Err(bad(format!("{item} does not match the Domain patterns")));
        }
        let domain = json!({ "name": name, "group": { "name": group } });
        if field != "removedDomains" && out.iter().any(|d| group_of(d) == group) {
            return Err(bad(format!("more than one domain of group {group}")));
        }
        out.push(domain);
    }
    Ok(out)
}
