//! The commands the UI calls. Each parses its input, calls the core (through
//! [`crate::state::AppState::db`] or the flasher) and maps the result; nothing else lives here.

pub mod batches;
pub mod devices;
pub mod labels;
pub mod line;
pub mod settings;
pub mod shift;
pub mod station;
pub mod sync;
