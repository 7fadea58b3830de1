//! Connections: the `appServers` listing (IoT Flow ones carry their DX Core connection id), and the two creations
//! of the tutorial — a ThingPark X IoT Flow MQTT connection through the DX Core API and a Basic HTTPS connection
//! through `appServers`. Passwords and tunnel keys are [`Secret`]s: sent once, never shown.

use crate::error::UsageError;
use crate::platform::{ApiError, Client, Connection};
use crate::secret::{Secret, mask};
use serde_json::{Value, json};

/// The DX Core connector of an MQTT IoT Flow connection.
pub const MQTT_CONNECTOR: &str = "actility-mqtt-iot";

/// Every connection of the subscription, all pages.
pub async fn list(client: &Client) -> Result<Vec<Connection>, ApiError> {
    Ok(client.catalog().await?.connections)
}

/// A checked MQTT IoT Flow connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConnection {
    pub name: String,
    /// `host:port`.
    pub host: String,
    pub uplink_topic: String,
    pub downlink_topic: String,
    /// `SSL`, `TCP` or `WSS`.
    pub protocol: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl MqttConnection {
    pub fn new(
        name: &str,
        host: &str,
        uplink_topic: &str,
        downlink_topic: &str,
        protocol: &str,
        username: Option<&str>,
        password: Option<Secret>,
    ) -> Result<MqttConnection, UsageError> {
        let name = nonempty(name, "--name")?;
        let host = host.trim();
        let port_ok = host
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(UsageError(format!(
                "--host {host:?}: expected HOST:PORT, e.g. broker.example.com:8883"
            )));
        }
        let protocol = protocol.trim().to_ascii_uppercase();
        if !["SSL", "TCP", "WSS"].contains(&protocol.as_str()) {
            return Err(UsageError(format!(
                "--protocol {protocol}: expected SSL, TCP or WSS"
            )));
        }
        let username = username.map(str::trim).filter(|u| !u.is_empty());
        if username.is_some() && password.is_none() {
            return Err(UsageError(
                "--username needs a password: set THINGPARK_CONNECTION_PASSWORD or give --password-file"
                    .into(),
            ));
        }
        Ok(MqttConnection {
            name,
            host: host.to_string(),
            uplink_topic: nonempty(uplink_topic, "--uplink-topic")?,
            downlink_topic: nonempty(downlink_topic, "--downlink-topic")?,
            protocol,
            username: username.map(str::to_string),
            password,
        })
    }

    /// The tutorial's DX Core body.
    pub fn body(&self) -> Value {
        let mut configuration = json!({
            "uplinkTopicPattern": self.uplink_topic,
            "downlinkTopicPattern": self.downlink_topic,
            "hostName": self.host,
            "protocol": self.protocol,
        });
        if let Some(user) = &self.username {
            configuration["username"] = json!(user);
        }
        if let Some(password) = &self.password {
            configuration["password"] = json!(password.expose());
        }
        json!({
            "connectorId": MQTT_CONNECTOR,
            "name": self.name,
            "configuration": configuration,
        })
    }
}

/// A checked Basic HTTPS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConnection {
    pub name: String,
    pub url: String,
    /// The platform's `contentType`: `jsontyped` (what the tutorial sends for JSON) or `xml`.
    pub content_type: String,
    /// The tunnel interface authentication key, 32 hex digits.
    pub as_key: Secret,
    /// Seconds.
    pub max_deviation: u32,
}

impl HttpsConnection {
    pub fn new(
        name: &str,
        url: &str,
        content_type: &str,
        as_key: &str,
        max_deviation: u32,
    ) -> Result<HttpsConnection, UsageError> {
        let name = nonempty(name, "--name")?;
        let url = url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
            return Err(UsageError(format!(
                "--url {url:?}: expected the application's http(s):// address"
            )));
        }
        let content_type = match content_type.trim().to_ascii_lowercase().as_str() {
            "json" | "jsontyped" => "jsontyped",
            "xml" => "xml",
            other => {
                return Err(UsageError(format!(
                    "--content-type {other}: expected json or xml"
                )));
            }
        };
        Ok(HttpsConnection {
            name,
            url: url.to_string(),
            content_type: content_type.to_string(),
            as_key: Secret::new(as_key),
            max_deviation,
        })
    }

    /// The tutorial's `appServers` body.
    pub fn body(&self) -> Value {
        json!({
            "contentType": self.content_type,
            "destinations": [{
                "addresses": [self.url],
                "ports": "*",
                "strategy": "SEQUENTIAL",
            }],
            "downlinkSecurity": {
                "downlinkAsKey": self.as_key.expose(),
                "maxTimestampDeviation": self.max_deviation,
                "status": "DOWNLINK_AS_KEY",
            },
            "name": self.name,
        })
    }
}

fn nonempty(value: &str, option: &str) -> Result<String, UsageError> {
    let value = value.trim();
    if value.is_empty() {
        Err(UsageError(format!("{option}: must not be empty")))
    } else {
        Ok(value.to_string())
    }
}

/// Reads a tunnel key file: 32 hex digits, spaces, `-` and `:` allowed, upper-cased. The error names the file, never
/// its content.
pub fn read_as_key(path: &std::path::Path) -> Result<Secret, UsageError> {
    let text = read_text(path, "--as-key-file")?;
    let key: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | ':' | '\t' | '\r' | '\n'))
        .collect::<String>()
        .to_ascii_uppercase();
    if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UsageError(format!(
            "--as-key-file {}: expected 32 hexadecimal digits (the tunnel interface key), found {} characters",
            path.display(),
            key.len()
        )));
    }
    Ok(Secret::new(key))
}

/// Reads a password file without its final line break.
pub fn read_password(path: &std::path::Path) -> Result<Secret, UsageError> {
    let text = read_text(path, "--password-file")?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(UsageError(format!(
            "--password-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(Secret::new(password))
}

/// The file `option` names; the error says which and why, never what it holds.
fn read_text(path: &std::path::Path, option: &str) -> Result<String, UsageError> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{option} {}: cannot read it: {e}", path.display())))
}

/// An error message with every occurrence of `secret` masked, in case the platform echoes what it was sent.
fn scrub(message: String, secret: Option<&Secret>) -> String {
    match secret {
        Some(s) if !s.expose().is_empty() && message.contains(s.expose()) => {
            message.replace(s.expose(), &mask(s.expose()))
        }
        _ => message,
    }
}

/// Why a creation failed: refused (the options) or the platform (unreachable, credentials).
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("the platform refused the connection: {0}")]
    Refused(String),
    /// Another connection has the name.
    #[error("{0}")]
    Taken(String),
    #[error("{0}")]
    Platform(String),
}

fn add_error(err: ApiError, secret: Option<&Secret>) -> AddError {
    match &err {
        ApiError::Status { status, .. } if (400..500).contains(status) => {
            AddError::Refused(scrub(err.to_string(), secret))
        }
        _ => AddError::Platform(scrub(err.to_string(), secret)),
    }
}

/// Refuses a name another connection already has (whatever the case): shipments name their connection, and a name
/// that matches two connections resolves to neither.
async fn refuse_taken_name(client: &Client, name: &str) -> Result<(), AddError> {
    let taken = list(client)
        .await
        .map_err(|e| AddError::Platform(e.to_string()))?
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name.trim()));
    match taken {
        Some(c) => Err(AddError::Taken(format!(
            "a connection named {:?} already exists ({}); shipments name their connection, so give this one \
             another --name",
            c.name, c.id
        ))),
        None => Ok(()),
    }
}

/// Creates an IoT Flow connection; returns its DX Core `id`, which a shipment's connection column accepts.
pub async fn add_mqtt(client: &Client, connection: &MqttConnection) -> Result<String, AddError> {
    refuse_taken_name(client, &connection.name).await?;
    let answer = client
        .dx_post_json("/connections", &connection.body())
        .await
        .map_err(|e| add_error(e, connection.password.as_ref()))?;
    id_of(&answer, "id")
}

/// Creates a Basic HTTPS connection; returns its `ID`.
pub async fn add_https(client: &Client, connection: &HttpsConnection) -> Result<String, AddError> {
    refuse_taken_name(client, &connection.name).await?;
    let (answer, location) = client
        .post_json("/appServers", &connection.body())
        .await
        .map_err(|e| add_error(e, Some(&connection.as_key)))?;
    id_of(&answer, "ID").map_err(|e| match location {
        Some(l) => AddError::Platform(format!("{e} (Location: {l})")),
        None => e,
    })
}

fn id_of(answer: &Value, field: &str) -> Result<String, AddError> {
    match answer.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(AddError::Platform(format!(
            "the platform created the connection but its answer has no `{field}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The bodies are the tutorial's, field for field: tests/contract.rs.
    #[test]
    fn the_mqtt_protocol_is_upper_cased_and_the_password_never_shown() {
        let c = MqttConnection::new(
            "My MQTT connection",
            "myhostname.com:8883",
            "mqtt/things/{DevEUI}/uplink",
            "mqtt/things/{DevEUI}/downlink",
            "ssl",
            Some("mycompany"),
            Some(Secret::new("bar")),
        )
        .unwrap();
        assert_eq!(c.body()["configuration"]["protocol"], "SSL");
        assert!(!format!("{c:?}").contains("bar\""));
    }

    #[test]
    fn mqtt_options_are_checked() {
        let mk = |host: &str, protocol: &str, user: Option<&str>, pw: Option<Secret>| {
            MqttConnection::new("n", host, "u", "d", protocol, user, pw)
        };
        assert!(mk("broker", "SSL", None, None).is_err());
        assert!(mk("broker:0", "SSL", None, None).is_err());
        assert!(mk("broker:1883", "TCP", None, None).is_ok());
        assert!(mk("broker:1883", "UDP", None, None).is_err());
        assert!(mk("broker:1883", "SSL", Some("me"), None).is_err());
    }

    #[test]
    fn https_options_are_checked_and_the_key_never_shown() {
        let c = HttpsConnection::new(
            "n",
            "https://x.example/app",
            "xml",
            "C72C6F867B150B1210ACDA5F3CDFB449",
            5,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("C72C6F86"));
        assert!(HttpsConnection::new("n", "ftp://x.example", "json", "", 10).is_err());
        assert!(HttpsConnection::new("n", "https://x.example", "csv", "", 10).is_err());
    }

    #[test]
    fn key_files_are_normalised_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "c7:2c:6f:86:7b:15:0b:12:10:ac:da:5f:3c:df:b4:49\n").unwrap();
        assert_eq!(
            read_as_key(&good).unwrap().expose(),
            "C72C6F867B150B1210ACDA5F3CDFB449"
        );
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "C72C6F867B150B1210ACDA5F3CDFB4").unwrap();
        let err = read_as_key(&bad).unwrap_err().to_string();
        assert!(err.contains("bad") && !err.contains("C72C6F86"), "{err}");
    }

    #[test]
    fn echoed_secrets_are_masked() {
        let s = Secret::new("hunter2hunter2");
        assert_eq!(
            scrub("bad password hunter2hunter2".into(), Some(&s)),
            "bad password ****ter2"
        );
    }
}
