//! The HTTP client for the receiver: reqwest (blocking) over rustls, the station token as a
//! bearer token, bounded timeouts, and every failure classified as temporary (network,
//! timeouts, 408/429/5xx) or not. Responses never carry secrets; requests carry the hash and,
//! until acknowledged, the api key — never a plaintext password (the station has none stored).

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::api::{self, Lease, LeaseRequest, OutboxRecord, PushResponse, ServerType, StationInfo};
use crate::config::{StationToken, SyncConfig, CONNECT_TIMEOUT};
use crate::error::{Result, SyncError};

/// Longest piece of a non-JSON error body quoted in an error.
const ERROR_BODY_QUOTE: usize = 200;

pub struct Client {
    http: reqwest::blocking::Client,
    base: reqwest::Url,
    token: StationToken,
}

impl Client {
    pub fn new(config: &SyncConfig) -> Result<Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(config.timeout))
            .user_agent(concat!("devicehub-station/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| SyncError::Config {
                field: "ca file",
                problem: format!("cannot read {}: {e}", path.display()),
                fix: "give a readable PEM file, or remove the CA file from the sync settings"
                    .into(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| SyncError::Config {
                    field: "ca file",
                    problem: format!("{}: {e}", path.display()),
                    fix: "give a PEM file (-----BEGIN CERTIFICATE-----)".into(),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        if !config.tls_verify {
            tracing::warn!("TLS certificate verification is off for the sync server");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| SyncError::Config {
            field: "tls",
            problem: e.to_string(),
            fix: "check the CA file".into(),
        })?;
        Ok(Client {
            http,
            base: config.server_url.clone(),
            token: config.token.clone(),
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url> {
        self.base
            .join(&format!("v{}/{path}", api::API_VERSION))
            .map_err(|e| SyncError::Protocol(e.to_string()))
    }

    fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let request = request.bearer_auth(self.token.expose());
        let response = request.send().map_err(|e| self.transport(e))?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().map_err(|e| {
                if e.is_timeout() || e.is_body() {
                    self.transport(e)
                } else {
                    SyncError::Protocol(format!("{status}: {e}"))
                }
            });
        }
        Err(self.refusal(status, response))
    }

    fn transport(&self, e: reqwest::Error) -> SyncError {
        // The error's source chain says why (refused, timed out, certificate...); the URL has
        // no secret in it (the token travels in a header).
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        SyncError::Unreachable {
            url: self.base.to_string(),
            message,
        }
    }

    fn refusal(&self, status: StatusCode, response: Response) -> SyncError {
        let text = response.text().unwrap_or_default();
        let (code, message) = match serde_json::from_str::<api::ErrorBody>(&text) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_lowercase()
                    .replace(' ', "_"),
                text.chars()
                    .filter(|c| !c.is_control())
                    .take(ERROR_BODY_QUOTE)
                    .collect(),
            ),
        };
        if matches!(status.as_u16(), 401 | 403) {
            return SyncError::Unauthorized {
                status: status.as_u16(),
                message,
            };
        }
        SyncError::Server {
            status: status.as_u16(),
            code,
            message,
        }
    }

    /// Who the server thinks this station is; checks URL, token and TLS in one call.
    pub fn station(&self) -> Result<StationInfo> {
        self.send(self.http.get(self.url("station")?))
    }

    /// The device types the server knows.
    pub fn types(&self) -> Result<Vec<ServerType>> {
        let r: api::TypesResponse = self.send(self.http.get(self.url("types")?))?;
        Ok(r.types)
    }

    /// Upsert a batch of records; one result per record.
    pub fn push(&self, records: &[OutboxRecord]) -> Result<PushResponse> {
        self.send(
            self.http
                .post(self.url("devices")?)
                .json(&api::PushRequest { records }),
        )
    }

    /// Status and last_seen of devices this station synced.
    pub fn device_status(&self, devices: &[(String, String)]) -> Result<api::StatusResponse> {
        let body = api::StatusRequest {
            devices: devices
                .iter()
                .map(|(t, d)| api::DeviceKey {
                    device_type: t,
                    device_id: d,
                })
                .collect(),
        };
        self.send(self.http.post(self.url("devices/status")?).json(&body))
    }

    /// Lease a block of id numbers.
    pub fn lease(&self, request: &LeaseRequest<'_>) -> Result<Lease> {
        self.send(self.http.post(self.url("id-leases")?).json(request))
    }
}
