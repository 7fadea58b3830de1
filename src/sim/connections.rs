//! Connections created at run time: Basic HTTPS ones (`POST /appServers`) and ThingPark X IoT Flow ones (DX Core
//! `POST /connections`), both of which then appear in the `appServers` listing. Secrets in their bodies (the tunnel
//! key, broker passwords) are checked and never echoed.

use super::{ApiError, BASE_PATH};
use serde_json::{Map, Value, json};

/// A Basic HTTPS connection body that passed the checks, without its tunnel key.
#[derive(Debug)]
pub struct AppServerBody {
    name: String,
    content_type: String,
    destinations: Value,
    downlink_status: Option<String>,
}

fn nonempty_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid {field}: a non-empty string is required"
        ))),
        None => Err(ApiError::bad_request(format!(
            "Missing mandatory field: {field}"
        ))),
    }
}

pub fn check_app_server(body: &Value) -> Result<AppServerBody, ApiError> {
    let obj = super::object(body)?;
    let name = nonempty_str(obj, "name")?.to_owned();
    let content_type = nonempty_str(obj, "contentType")?.to_owned();
    let destinations = obj
        .get("destinations")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Invalid destinations: a non-empty array is required")
        })?;
    for destination in destinations {
        let addresses = destination
            .get("addresses")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Invalid destinations: each needs a non-empty addresses array",
                )
            })?;
        for address in addresses {
            let ok = address
                .as_str()
                .is_some_and(|a| a.starts_with("https://") || a.starts_with("http://"));
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid destinations.addresses: {address} is not an http(s) URL"
                )));
            }
        }
        match destination.get("strategy").and_then(Value::as_str) {
            None | Some("SEQUENTIAL") | Some("BLAST") => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid destinations.strategy: {other} (SEQUENTIAL or BLAST)"
                )));
            }
        }
    }
    let downlink_status = match obj.get("downlinkSecurity") {
        None => None,
        Some(security) => {
            let status = security
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("Missing mandatory field: downlinkSecurity.status")
                })?;
            if status == "DOWNLINK_AS_KEY" {
                let key_ok = security
                    .get("downlinkAsKey")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()));
                if !key_ok {
                    return Err(ApiError::bad_request(
                        "Invalid downlinkSecurity.downlinkAsKey: 32 hexadecimal characters are required",
                    ));
                }
                if !security
                    .get("maxTimestampDeviation")
                    .is_some_and(Value::is_u64)
                {
                    return Err(ApiError::bad_request(
                        "Invalid downlinkSecurity.maxTimestampDeviation: a number of seconds is required",
                    ));
                }
            }
            Some(status.to_owned())
        }
    };
    Ok(AppServerBody {
        name,
        content_type,
        destinations: Value::Array(destinations.clone()),
        downlink_status,
    })
}

/// The catalogue brief and the creation answer of Basic HTTPS connection number `n`.
pub fn app_server(body: AppServerBody, n: u64, now_ms: i64) -> (Value, Value) {
    let mut brief = brief(n, &body.name, "HTTP", false);
    brief["contentType"] = body.content_type.into();
    let mut answer = brief.clone();
    answer["occContext"] = json!({"version": 0, "lastUpdate": now_ms, "who": "tpbulk-sim"});
    answer["destinations"] = body.destinations;
    if let Some(status) = body.downlink_status {
        answer["downlinkSecurity"] = json!({ "status": status });
    }
    (brief, answer)
}

/// An IoT Flow connection body that passed the checks, its configuration without secrets.
#[derive(Debug)]
pub struct ConnectionBody {
    connector_id: String,
    name: String,
    configuration: Map<String, Value>,
}

pub fn check_connection(body: &Value) -> Result<ConnectionBody, ApiError> {
    let obj = super::object(body)?;
    let connector_id = nonempty_str(obj, "connectorId")?.to_owned();
    let name = nonempty_str(obj, "name")?.to_owned();
    let configuration = obj
        .get("configuration")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid configuration: an object is required"))?;
    let configuration = configuration
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !(k.contains("password") || k.contains("secret") || k.contains("key"))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ConnectionBody {
        connector_id,
        name,
        configuration,
    })
}

/// The DX Core connection `id` and its `appServers` brief (number `n`, type `KAFKA`).
pub fn connection(body: ConnectionBody, id: u64, n: u64) -> (Value, Value) {
    let id = id.to_string();
    let connection = json!({
        "id": id,
        "connectorId": body.connector_id,
        "name": body.name,
        "state": "OPENED",
        "configuration": body.configuration,
    });
    let mut brief = brief(n, &body.name, "KAFKA", true);
    brief["tpxIotFlow"] = json!({ "connectionId": id });
    (connection, brief)
}

/// The `appServers` brief of connection number `n`, of type `kind`; `alarms`: it is notified of alarms.
fn brief(n: u64, name: &str, kind: &str, alarms: bool) -> Value {
    json!({
        "ID": format!("TWA_199982747.{n}.AS"),
        "name": name,
        "href": format!("{BASE_PATH}/appServers/{n}"),
        "baseStationCount": 0,
        "deviceCount": 0,
        "multicastGroupCount": 0,
        "state": "ACTIVE",
        "healthState": "ACTIVE",
        "notification": {"baseStationAlarms": alarms, "deviceAlarms": alarms},
        "type": kind,
        "validationState": "VALIDATED",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_configuration_loses_its_password() {
        let body = json!({"connectorId": "actility-mqtt-iot", "name": "n",
            "configuration": {"hostName": "h:8883", "password": "bar", "username": "u"}});
        let (connection, brief) = connection(check_connection(&body).unwrap(), 7, 9);
        assert_eq!(connection["configuration"]["hostName"], "h:8883");
        assert!(connection["configuration"].get("password").is_none());
        assert_eq!(brief["tpxIotFlow"]["connectionId"], "7");
        assert_eq!(brief["type"], "KAFKA");
    }

    #[test]
    fn app_server_answer_keeps_no_tunnel_key() {
        let body = json!({"contentType": "jsontyped", "name": "n",
            "destinations": [{"addresses": ["https://example.com"], "ports": "*", "strategy": "SEQUENTIAL"}],
            "downlinkSecurity": {"downlinkAsKey": "C72C6F867B150B1210ACDA5F3CDFB449",
                "maxTimestampDeviation": 10, "status": "DOWNLINK_AS_KEY"}});
        let (_, answer) = app_server(check_app_server(&body).unwrap(), 5, 0);
        assert!(!answer.to_string().contains("C72C6F86"));
        let mut bad = body.clone();
        bad["downlinkSecurity"]["downlinkAsKey"] = json!("C72C");
        assert!(check_app_server(&bad).is_err());
    }
}
