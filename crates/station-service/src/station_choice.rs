//! The Station screen's choice (what to flash, which ports) across restarts, for every face
//! that keeps one. A remembered target that no longer exists is dropped *visibly*: the face
//! gets nothing chosen plus why ([`Dropped`]), never silently another type.

use serde::{Deserialize, Serialize};
use station_core::station_choice::{ChoiceTarget, StationChoice};
use station_core::{BatchState, CoreError, Result, Store};

/// Why a remembered target is no longer offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dropped {
    /// Every device of the batch is flashed (or being flashed).
    BatchComplete { batch_id: i64 },
    /// The batch is not in this database (another database, or training mode).
    BatchGone { batch_id: i64 },
    /// The batch was closed or cancelled: it issues no more devices.
    BatchEnded { batch_id: i64, state: BatchState },
    /// The device type was deleted or renamed.
    TypeGone { name: String },
}

/// The choice to restore, and what of it was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Remembered {
    pub choice: StationChoice,
    pub dropped: Option<Dropped>,
}

/// The remembered choice, its target checked against the database now.
pub fn remembered(store: &Store) -> Result<Remembered> {
    let mut choice = store.station_choice()?;
    let dropped = match &choice.target {
        None => None,
        Some(target) => why_gone(store, target)?,
    };
    if dropped.is_some() {
        choice.target = None;
    }
    Ok(Remembered { choice, dropped })
}

/// Why `target` cannot be flashed any more; `None` while it can.
pub fn why_gone(store: &Store, target: &ChoiceTarget) -> Result<Option<Dropped>> {
    Ok(match target {
        ChoiceTarget::Batch { batch_id } => {
            let batch_id = *batch_id;
            match store.find_batch(batch_id) {
                Err(CoreError::NotFound { .. }) => Some(Dropped::BatchGone { batch_id }),
                Err(e) => return Err(e),
                Ok(b) if b.batch.state != BatchState::Open => Some(Dropped::BatchEnded {
                    batch_id,
                    state: b.batch.state,
                }),
                Ok(_) => match store.devices_left_in_batch(batch_id)? {
                    0 => Some(Dropped::BatchComplete { batch_id }),
                    _ => None,
                },
            }
        }
        ChoiceTarget::Type { name } => match store.find_type(name) {
            Ok(_) => None,
            Err(CoreError::UnknownType { .. } | CoreError::NotFound { .. }) => {
                Some(Dropped::TypeGone { name: name.clone() })
            }
            Err(e) => return Err(e),
        },
    })
}

/// Keep `choice` for the next start.
pub fn remember(store: &mut Store, choice: &StationChoice) -> Result<()> {
    store.remember_station_choice(choice)
}
