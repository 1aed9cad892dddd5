//! The ARI REST client: `GET /ari/asterisk/info`, `GET /ari/channels` (reconciliation after a
//! reconnect) and `POST /ari/channels` (originate, for survey calls). Basic auth; the password
//! lives in a redacting `Secret` and is never part of a URL, `Debug` output or an error.

use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

use crate::models::{AsteriskInfo, Channel};
use crate::secret::Credentials;

/// What went wrong talking to ARI, and what to check.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error(
        "invalid ARI URL {url:?}: {reason}; expected something like http://127.0.0.1:8088/ari \
         (credentials go in the user/password settings, not in the URL)"
    )]
    InvalidUrl { url: String, reason: String },
    #[error(
        "cannot reach Asterisk at {url}: {source}; check the host and port, that http.conf has \
         enabled=yes and bindaddr/bindport match, and any firewall between"
    )]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "Asterisk rejected the ARI credentials for {url} (401); check the user and password \
         against ari.conf ([user] section, type=user, password=...)"
    )]
    Unauthorized { url: String },
    #[error(
        "Asterisk has no ARI resource at {url} (404: {message}); check that the URL ends in /ari, \
         that ari.conf has enabled=yes and res_ari is loaded"
    )]
    NotFound { url: String, message: String },
    #[error(
        "Asterisk refused the request to {url} ({status}: {message}); for an originate check the \
         endpoint exists (pjsip show endpoints), the context/extension exist in the dialplan and, \
         when an app is named, that the Stasis application is registered (a WebSocket connected \
         with app=...)"
    )]
    Rejected {
        url: String,
        status: u16,
        message: String,
    },
    #[error("Asterisk is not ready at {url} (503); it is probably starting up, retry shortly")]
    Unavailable { url: String },
    #[error("Asterisk answered {status} to {url}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("Asterisk's reply from {url} does not match the ARI model: {source}")]
    Decode {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Parameters of `POST /ari/channels` that send a new channel into the dialplan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginateParams {
    /// The endpoint to call first, e.g. `PJSIP/1001` (the operator's phone).
    pub endpoint: String,
    /// Dialplan extension to continue at once it answers, e.g. the applicant's number.
    pub extension: String,
    /// Dialplan context, e.g. `survey-out`.
    pub context: String,
    pub priority: i64,
    /// Caller id shown on the endpoint, e.g. `1580`.
    pub caller_id: Option<String>,
    /// Seconds to wait for the endpoint to answer.
    pub timeout_s: Option<u32>,
}

/// An ARI REST client. Cheap to clone; build it once.
#[derive(Clone, Debug)]
pub struct AriRest {
    /// ARI root, always ending in `/ari/`.
    base: Url,
    credentials: Credentials,
    http: reqwest::Client,
}

impl AriRest {
    /// `base_url` is Asterisk's ARI root such as `http://127.0.0.1:8088/ari` (the `/ari` is
    /// added when missing).
    pub fn new(base_url: &str, username: &str, password: &str) -> Result<Self, RestError> {
        let base = ari_root(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|source| RestError::Connect {
                url: base.to_string(),
                source,
            })?;
        Ok(AriRest {
            base,
            credentials: Credentials::new(username, password),
            http,
        })
    }

    /// The ARI root URL (no credentials in it).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /ari/asterisk/info`; `status.startup_time` tells an Asterisk restart from a blip.
    pub async fn asterisk_info(&self) -> Result<AsteriskInfo, RestError> {
        let url = self.url("asterisk/info", &[])?;
        self.send(self.http.get(url.clone()), &url).await
    }

    /// `GET /ari/channels`: every channel now (newest first).
    pub async fn channels(&self) -> Result<Vec<Channel>, RestError> {
        let url = self.url("channels", &[])?;
        self.send(self.http.get(url.clone()), &url).await
    }

    /// `POST /ari/channels?endpoint=…&extension=…&context=…&priority=…&callerId=…&timeout=…`
    /// with an empty body; returns the new channel (state `Down`).
    pub async fn originate(&self, p: &OriginateParams) -> Result<Channel, RestError> {
        let priority = p.priority.to_string();
        let timeout = p.timeout_s.map(|t| t.to_string());
        let mut q: Vec<(&str, &str)> = vec![
            ("endpoint", &p.endpoint),
            ("extension", &p.extension),
            ("context", &p.context),
            ("priority", &priority),
        ];
        if let Some(c) = &p.caller_id {
            q.push(("callerId", c));
        }
        if let Some(t) = &timeout {
            q.push(("timeout", t));
        }
        let url = self.url("channels", &q)?;
        let req = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_LENGTH, "0");
        self.send(req, &url).await
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, RestError> {
        let mut url = self.base.join(path).map_err(|e| RestError::InvalidUrl {
            url: self.base.to_string(),
            reason: e.to_string(),
        })?;
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
                .collect();
            url.set_query(Some(&q.join("&")));
        }
        Ok(url)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<T, RestError> {
        let shown = url.to_string();
        let mut auth = reqwest::header::HeaderValue::from_str(
            &self.credentials.basic_auth_header(),
        )
        .map_err(|_| RestError::InvalidUrl {
            url: shown.clone(),
            reason: "the ARI user name or password contains characters not allowed in an \
                         HTTP header"
                .into(),
        })?;
        auth.set_sensitive(true);
        let resp = req
            .header(reqwest::header::AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| RestError::Connect {
                url: shown.clone(),
                source: e.without_url(),
            })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return resp.json::<T>().await.map_err(|e| RestError::Decode {
                url: shown,
                source: e.without_url(),
            });
        }
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        tracing::warn!(url = %shown, status, %message, "ARI request failed");
        Err(match status {
            401 | 403 => RestError::Unauthorized { url: shown },
            404 => RestError::NotFound {
                url: shown,
                message,
            },
            400 | 409 | 422 => RestError::Rejected {
                url: shown,
                status,
                message,
            },
            503 => RestError::Unavailable { url: shown },
            _ => RestError::Status {
                url: shown,
                status,
                message,
            },
        })
    }
}

/// Normalises an ARI root URL: http(s), no credentials, path ending in `/ari/`.
pub(crate) fn ari_root(base_url: &str) -> Result<Url, RestError> {
    let invalid = |reason: &str| RestError::InvalidUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Do not echo the URL back: it holds the password.
        return Err(RestError::InvalidUrl {
            url: "[URL with credentials, not shown]".into(),
            reason: "the URL contains a user or password".into(),
        });
    }
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/ari") {
        path.push_str("/ari");
    }
    path.push('/');
    url.set_path(&path);
    Ok(url)
}

/// Percent-encodes a query value, keeping the characters Asterisk's own clients leave readable
/// (`PJSIP/1001`, `0501234567@trunk`).
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'@'
            | b':' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_root_normalisation() {
        for u in [
            "http://127.0.0.1:8088",
            "http://127.0.0.1:8088/",
            "http://127.0.0.1:8088/ari",
            "http://127.0.0.1:8088/ari/",
        ] {
            assert_eq!(
                ari_root(u).unwrap().as_str(),
                "http://127.0.0.1:8088/ari/",
                "{u}"
            );
        }
        assert!(ari_root("ftp://x").is_err());
        let e = ari_root("http://cc:ccpass@127.0.0.1:8088/ari")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("ccpass"), "{e}");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query_value("PJSIP/1001"), "PJSIP/1001");
        assert_eq!(
            encode_query_value("\"Ivan\" <1580>"),
            "%22Ivan%22%20%3C1580%3E"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = AriRest::new("http://127.0.0.1:8088", "cc", "ccpass").unwrap();
        assert!(!format!("{c:?}").contains("ccpass"));
    }
}
