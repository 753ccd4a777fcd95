//! Device ids come from a block the server leased before any is minted: every path that mints
//! (a batch, `provision`, a new-device flash, a gang press, `watch`) asks here first, whichever
//! face started it. With sync off the station numbers after its own highest id; when the server
//! cannot be reached, the station's offline range is used and the caller is told why.

use station_core::{naming, CoreError, Result, Store};
pub use station_sync::IdSource;

/// Make sure `count` ids of `device_type` with `prefix` can be minted from a leased block (or
/// say why the offline range will be used). An unknown type or a bad prefix is left to the
/// creation itself, which reports it in its own words.
pub fn prepare(store: &mut Store, device_type: &str, prefix: &str, count: u32) -> Result<IdSource> {
    if store.find_type(device_type).is_err() || naming::validate_prefix(prefix).is_err() {
        return Ok(IdSource::Local);
    }
    station_sync::prepare_ids(store, device_type, prefix, count).map_err(CoreError::from)
}

/// A sentence for the operator when ids come from the offline range; `None` otherwise.
pub fn note(source: &IdSource) -> Option<String> {
    match source {
        IdSource::Offline { reason } => Some(format!(
            "the server could not lease device ids ({reason}); this station's offline id range is used"
        )),
        IdSource::Local | IdSource::Leased => None,
    }
}
