//! The receiver's v1 wire format (docs/sync-api.md). Requests carry [`OutboxRecord`]s as
//! built by the core; these are the answers.

use serde::{Deserialize, Serialize};
pub use station_core::store::outbox::OutboxRecord;
pub use station_core::store::server_status::ServerDeviceStatus;

/// The API version this station speaks (the URL's `v1/`).
pub const API_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StationInfo {
    pub api_version: u32,
    pub station: StationName,
    pub server_time: String,
    pub limits: Limits,
    /// The key api keys are sealed to; `None` when the server has no key pair (or predates
    /// sealed api keys).
    #[serde(default)]
    pub seal_key: Option<ServerSealKey>,
}

/// The server's public seal key as `v1/station` gives it (docs/sync-api.md).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct ServerSealKey {
    /// `x25519-sealedbox` ([`station_core::seal::SEAL_ALGORITHM`]).
    pub algorithm: String,
    /// Standard base64 of the 32-byte X25519 public key.
    pub public_key: String,
    /// `sha256:<64 lower hex>` of the raw public key.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StationName {
    pub name: String,
    pub number: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Limits {
    pub max_records: usize,
    pub max_lease: u64,
    pub offline_span: u64,
}

/// A device type as the server knows it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct ServerType {
    pub name: String,
    pub app_label: String,
    pub model_name: String,
    pub username_prefix: String,
    pub topic_prefix: String,
    pub topic_template: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TypesResponse {
    pub types: Vec<ServerType>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PushRequest<'a> {
    pub records: &'a [OutboxRecord],
}

/// What the server did with one record.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Superseded,
    Conflict,
    Invalid,
}

impl Outcome {
    /// The server holds the record (or a newer one): the station is done with it.
    pub fn is_acknowledged(self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Updated | Outcome::Unchanged | Outcome::Superseded
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecordResult {
    pub device_id: Option<String>,
    pub revision: Option<i64>,
    pub outcome: Outcome,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PushResponse {
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusRequest<'a> {
    pub devices: Vec<DeviceKey<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeviceKey<'a> {
    pub device_type: &'a str,
    pub device_id: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct StatusResponse {
    pub devices: Vec<ServerDeviceStatus>,
}

#[derive(Debug, Serialize)]
pub struct LeaseRequest<'a> {
    pub device_type: &'a str,
    pub prefix: &'a str,
    pub count: u64,
    pub local_highest: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Lease {
    pub device_type: String,
    pub prefix: String,
    pub start: u64,
    pub end: u64,
    pub station_number: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    pub code: String,
    pub message: String,
}
