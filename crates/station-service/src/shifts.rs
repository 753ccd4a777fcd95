//! Shifts for every face: started by the operator at the station, ended (each face confirms
//! with the counts first), reports saved as CSV or a printable page.

use std::path::Path;

use station_core::shift::ShiftReport;
use station_core::shift_export::{self, ReportFormat};
use station_core::{Result, Store};

use crate::operator;

/// Start a shift now, by the operator of this run (else the signed-in one).
pub fn start(store: &mut Store, explicit: Option<&str>) -> Result<ShiftReport> {
    let actor = operator::actor(store, explicit)?;
    store.start_shift(&actor.operator)
}

/// End the running shift; its report is saved (computed from its rows, frozen from now).
pub fn end(store: &mut Store) -> Result<ShiftReport> {
    store.end_shift()
}

/// The running shift's report so far, if one runs.
pub fn running(store: &Store) -> Result<Option<ShiftReport>> {
    store
        .running_shift_id()?
        .map(|id| store.shift_report(id))
        .transpose()
}

/// Save `reports` to `path`: the printable page for a `.html` name (one shift), else CSV.
pub fn save(store: &Store, reports: &[ShiftReport], path: &Path) -> Result<u64> {
    shift_export::save(store, reports, ReportFormat::of_path(path), path)
}
