//! Events the app pushes to the UI while long work runs: flash progress and results, port
//! arrivals, the shift counters. Exported to TypeScript with the commands.

use serde::{Deserialize, Serialize};
use specta::Type;
use station_core::flash::FlashStep;
use tauri_specta::Event;

use crate::dto::{Device, Shift};
use crate::error::AppError;

/// The steps an operator sees, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Connect,
    Identify,
    Write,
    Verify,
    Record,
}

/// One step of a running flash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, Event)]
pub struct FlashProgress {
    pub job_id: u32,
    pub port: String,
    pub step: Step,
    /// Settings written so far, during `write`.
    pub done: Option<u32>,
    pub total: Option<u32>,
    /// 0..1, for the progress bar.
    pub fraction: f32,
}

impl FlashProgress {
    pub fn new(job_id: u32, port: &str, step: FlashStep) -> Self {
        let (s, done, total) = match step {
            FlashStep::Connect => (Step::Connect, None, None),
            FlashStep::Identify => (Step::Identify, None, None),
            FlashStep::Write { done, total } => (Step::Write, Some(done), Some(total)),
            FlashStep::Verify => (Step::Verify, None, None),
            FlashStep::Record => (Step::Record, None, None),
        };
        FlashProgress {
            job_id,
            port: port.to_owned(),
            step: s,
            done,
            total,
            fraction: step.fraction(),
        }
    }
}

/// How a flash ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FlashResult {
    Passed {
        device: Box<Device>,
        hardware_id: String,
        firmware_version: String,
        /// An existing device got new credentials (rotate and re-flash).
        rotated: bool,
        /// Earlier unconfirmed flashes settled on the way.
        recovered: Vec<String>,
        /// The after-flash hook failed; the flash itself stands.
        hook_error: Option<String>,
        /// A unit serial scanned before the flash, linked (or refused) now that it passed.
        unit_link: Option<crate::dto::LinkOnPass>,
    },
    Failed {
        device_id: Option<String>,
        error: AppError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, Event)]
pub struct FlashFinished {
    pub job_id: u32,
    pub port: String,
    pub elapsed_ms: u32,
    pub result: FlashResult,
}

/// What became of a passed job's label, sent after its [`FlashFinished`] (a printer never holds
/// back the PASS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, Event)]
pub struct LabelPrinted {
    pub job_id: u32,
    pub port: String,
    pub device_id: String,
    pub printed: bool,
    /// "label not printed: why; what to do"; the label can be reprinted.
    pub error: Option<String>,
}

/// Serial ports appeared or went away (polled about once a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, Event)]
pub struct PortsChanged {
    pub arrived: Vec<String>,
    pub left: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, Event)]
pub struct ShiftChanged(pub Shift);
