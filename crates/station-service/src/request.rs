//! What a face asks the flasher to do to the unit on a port, and how that becomes the core's
//! [`FlashJob`].

use serde::{Deserialize, Serialize};
use station_core::flash::FlashJob;
use station_core::FlashTarget;

/// One job for one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlashRequest {
    /// A new device of a type (`{prefix}{type}-{NNN}`, after the highest number).
    NewDevice {
        device_type: String,
        prefix: String,
        /// Also overwrite a unit that holds an identity this station does not know.
        overwrite_foreign: bool,
    },
    /// The next device of a batch.
    NextInBatch {
        batch_id: i64,
        overwrite_foreign: bool,
    },
    /// Rotate the credentials of the device the unit holds and write them; with a device id,
    /// the unit must hold exactly that one.
    Reflash {
        device_id: Option<String>,
        /// The operator confirmed re-flashing a device that has no unit on record, should the
        /// unit be unable to prove possession (protocol §10.3). Only a person sets it: the
        /// faces' auto-flash asks for new devices, never for this.
        #[serde(default)]
        confirm_unbound: bool,
    },
    /// Only settle earlier, unconfirmed flashes from what the unit reports.
    Recover,
}

impl FlashRequest {
    /// The core's job for this request.
    pub fn job(&self) -> FlashJob {
        match self {
            FlashRequest::NewDevice {
                device_type,
                prefix,
                overwrite_foreign,
            } => FlashJob::Provision {
                target: FlashTarget::New {
                    device_type: device_type.clone(),
                    prefix: prefix.clone(),
                },
                overwrite_foreign: *overwrite_foreign,
            },
            FlashRequest::NextInBatch {
                batch_id,
                overwrite_foreign,
            } => FlashJob::Provision {
                target: FlashTarget::NextInBatch(*batch_id),
                overwrite_foreign: *overwrite_foreign,
            },
            FlashRequest::Reflash {
                device_id,
                confirm_unbound,
            } => FlashJob::Reflash {
                expected_device_id: device_id.clone(),
                confirm_unbound: *confirm_unbound,
            },
            FlashRequest::Recover => FlashJob::Recover,
        }
    }

    /// Whether a pass is a flash that counts into the shift and runs the after-flash hooks
    /// (a recovery only settles what an earlier flash left).
    pub fn writes_credentials(&self) -> bool {
        !matches!(self, FlashRequest::Recover)
    }

    /// Whether a pass prints the device's label: a new device gets one; a re-flash keeps the
    /// device id its label already shows (reprint it from the device's screen if it is lost).
    pub fn prints_label(&self) -> bool {
        matches!(
            self,
            FlashRequest::NewDevice { .. } | FlashRequest::NextInBatch { .. }
        )
    }

    /// The type and prefix whose ids this request may mint.
    pub fn mints(&self) -> Option<(&str, &str)> {
        match self {
            FlashRequest::NewDevice {
                device_type,
                prefix,
                ..
            } => Some((device_type, prefix)),
            _ => None,
        }
    }
}
