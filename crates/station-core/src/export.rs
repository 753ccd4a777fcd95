//! CSV and JSON export of devices for a production lead.
//!
//! One row per device with every non-secret column; never a password, hash or api key.
//! Rows stream from SQLite to the file, so memory stays flat however many devices there are.
//! The file is written beside its destination (a new 0600 file at a random name, never a
//! predictable one) and renamed into place, so a failure leaves no half-written export and the
//! export is readable by this station's user only. Cells a spreadsheet would run as a formula are neutralised.
//!
//! Times: the JSON export keeps RFC 3339 (`2026-11-29T10:59:01.429569778Z`), what programs
//! read. A CSV is opened in a spreadsheet, which reads `2026-11-29 10:59:01` as a date and time
//! but not RFC 3339: every CSV the station writes gives times as [`csv_time`] and states their
//! offset once, in the column's header ([`csv_time_header`]: `flashed_at (UTC)`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::devices::{Device, DeviceFilter};
use crate::error::{CoreError, Result};
use crate::store::Store;

/// The export columns, in order. One place: CSV header and JSON keys both come from here.
pub const COLUMNS: [&str; 23] = [
    "device_id",
    "name",
    "device_type",
    "batch_id",
    "lot",
    "work_order",
    "mqtt_username",
    "topic_data",
    "topic_status",
    "topic_cmd",
    "status",
    "is_active",
    "hardware_id",
    "unit_serial",
    "firmware_version",
    "generation",
    "flash_state",
    "flashed_at",
    "operator",
    "station_id",
    "sync_state",
    "created_at",
    "updated_at",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// An export row: the public face of a [`Device`].
#[derive(Debug, Serialize)]
pub struct ExportRow<'a> {
    pub device_id: &'a str,
    pub name: &'a str,
    pub device_type: &'a str,
    pub batch_id: Option<i64>,
    pub lot: Option<&'a str>,
    pub work_order: Option<&'a str>,
    pub mqtt_username: &'a str,
    pub topic_data: &'a str,
    pub topic_status: &'a str,
    pub topic_cmd: &'a str,
    pub status: &'a str,
    pub is_active: bool,
    pub hardware_id: Option<&'a str>,
    pub unit_serial: Option<&'a str>,
    pub firmware_version: &'a str,
    pub generation: u32,
    pub flash_state: &'a str,
    pub flashed_at: Option<&'a str>,
    pub operator: &'a str,
    pub station_id: &'a str,
    pub sync_state: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

impl<'a> From<&'a Device> for ExportRow<'a> {
    fn from(d: &'a Device) -> Self {
        ExportRow {
            device_id: &d.device_id,
            name: &d.name,
            device_type: &d.device_type,
            batch_id: d.batch_id,
            lot: d.lot.as_deref(),
            work_order: d.work_order.as_deref(),
            mqtt_username: &d.mqtt_username,
            topic_data: &d.topics.data,
            topic_status: &d.topics.status,
            topic_cmd: &d.topics.cmd,
            status: d.status.as_str(),
            is_active: d.is_active,
            hardware_id: d.hardware_id.as_deref(),
            unit_serial: d.unit_serial.as_deref(),
            firmware_version: &d.firmware_version,
            generation: d.generation,
            flash_state: d.flash_state.as_str(),
            flashed_at: d.flashed_at.as_deref(),
            operator: &d.operator,
            station_id: &d.station_id,
            sync_state: d.sync_state.as_str(),
            created_at: &d.created_at,
            updated_at: &d.updated_at,
        }
    }
}

impl ExportRow<'_> {
    /// The CSV cells, in [`COLUMNS`] order, times as [`csv_time`].
    fn cells(&self) -> [String; COLUMNS.len()] {
        let opt = |v: Option<&str>| v.unwrap_or("").to_string();
        [
            self.device_id.into(),
            self.name.into(),
            self.device_type.into(),
            self.batch_id.map(|b| b.to_string()).unwrap_or_default(),
            opt(self.lot),
            opt(self.work_order),
            self.mqtt_username.into(),
            self.topic_data.into(),
            self.topic_status.into(),
            self.topic_cmd.into(),
            self.status.into(),
            self.is_active.to_string(),
            opt(self.hardware_id),
            opt(self.unit_serial),
            self.firmware_version.into(),
            self.generation.to_string(),
            self.flash_state.into(),
            self.flashed_at.map(csv_time).unwrap_or_default(),
            self.operator.into(),
            self.station_id.into(),
            self.sync_state.into(),
            csv_time(self.created_at),
            csv_time(self.updated_at),
        ]
    }
}

/// The export columns holding a time.
pub const TIME_COLUMNS: [&str; 3] = ["flashed_at", "created_at", "updated_at"];
/// The offset every CSV time is given in, as its column header states it.
pub const CSV_TIME_OFFSET: &str = "UTC";
/// A CSV time: `YYYY-MM-DD hh:mm:ss`, which spreadsheets read as a date: in [`CSV_TIME_OFFSET`] in
/// the device exports, in the station's local time with a `utc_offset` column in the shift
/// reports (a lead reads a shift by the clock on the wall; [`local_time`]).
const CSV_TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// A stored RFC 3339 time as a CSV cell (`2026-11-29 10:59:01`, in UTC). A value that is not
/// RFC 3339 (never written by this station) is kept as it is rather than lost.
pub fn csv_time(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(CSV_TIME_FORMAT)
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// The CSV header of a time column: the column's name and the offset its times are in.
pub fn csv_time_header(column: &str) -> String {
    format!("{column} ({CSV_TIME_OFFSET})")
}

/// The CSV header row: [`COLUMNS`], time columns stating their offset.
pub fn csv_header() -> Vec<String> {
    COLUMNS
        .iter()
        .map(|c| {
            if TIME_COLUMNS.contains(c) {
                csv_time_header(c)
            } else {
                (*c).to_owned()
            }
        })
        .collect()
}

/// Spreadsheets run a cell starting with `=`, `+`, `-`, `@`, tab or carriage return as a
/// formula; a leading `'` makes it text (OWASP's advice for CSV injection).
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Write the devices matching `filter` to `writer`; returns how many rows were written.
pub fn write_devices<W: Write>(
    store: &Store,
    filter: &DeviceFilter,
    format: ExportFormat,
    writer: W,
) -> Result<u64> {
    let io_err = |source: std::io::Error| CoreError::Io {
        action: "write the export",
        path: PathBuf::from("(export)"),
        source,
    };
    let mut rows = 0u64;
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(writer);
            w.write_record(csv_header()).map_err(|e| io_err(e.into()))?;
            store.for_each_device(filter, |d| {
                let cells = ExportRow::from(&d).cells();
                w.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))
                    .map_err(|e| io_err(e.into()))?;
                rows += 1;
                Ok(())
            })?;
            w.flush().map_err(io_err)?;
        }
        ExportFormat::Json => {
            let mut w = writer;
            w.write_all(b"[").map_err(io_err)?;
            store.for_each_device(filter, |d| {
                if rows > 0 {
                    w.write_all(b",").map_err(io_err)?;
                }
                w.write_all(b"\n  ").map_err(io_err)?;
                serde_json::to_writer(&mut w, &ExportRow::from(&d))
                    .map_err(|e| io_err(e.into()))?;
                rows += 1;
                Ok(())
            })?;
            w.write_all(b"\n]\n").map_err(io_err)?;
            w.flush().map_err(io_err)?;
        }
    }
    Ok(rows)
}

/// Export to a file atomically: a temporary file beside `path`, synced, then renamed.
pub fn export_to_file(
    store: &Store,
    filter: &DeviceFilter,
    format: ExportFormat,
    path: &Path,
) -> Result<u64> {
    write_file_atomically(path, |w| write_devices(store, filter, format, w))
}

/// Write a file for a person atomically: `write` fills a new private temporary file beside
/// `path`, which is synced and renamed into place; on any failure nothing is left behind.
/// Returns what `write` returned (a row count).
pub fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<u64>,
) -> Result<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source: std::io::Error| CoreError::Io {
            action,
            path,
            source,
        }
    };
    if path.is_dir() {
        return Err(CoreError::invalid(
            "export path",
            format!("{} is a folder", path.display()),
            "give a file name, e.g. batch-3.csv",
        ));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let (tmp, file) = create_temp_beside(&dir, &file_name).map_err(io("create the export file"))?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        let rows = write(&mut w).map_err(|e| match e {
            CoreError::Io { action, source, .. } => CoreError::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })?;
        let file = w
            .into_inner()
            .map_err(|e| io("write the export file")(e.into_error()))?;
        file.sync_all().map_err(io("write the export file"))?;
        std::fs::rename(&tmp, path).map_err(io("write the export file"))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A time as a spreadsheet reads it, `YYYY-MM-DD hh:mm:ss`, in the station's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    pub text: String,
    /// The offset from UTC of `text`, as `+hh:mm` (the `utc_offset` column).
    pub utc_offset: String,
}

const UTC_OFFSET: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");

impl Store {
    /// The station's UTC offset (seconds) at unix time `at`, from the system's time zone
    /// (SQLite's `localtime`, which follows `TZ` and `/etc/localtime`, summer time included).
    pub fn utc_offset_at(&self, at: i64) -> Result<i32> {
        self.conn()
            .query_row(
                "SELECT CAST(round((julianday(?1, 'unixepoch', 'localtime')
                                    - julianday(?1, 'unixepoch')) * 86400) AS INTEGER)",
                [at],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }
}

/// Unix time `at` at the offset `offset_secs` from UTC.
pub fn local_time(at: i64, offset_secs: i32) -> LocalTime {
    let offset = time::UtcOffset::from_whole_seconds(offset_secs).unwrap_or(time::UtcOffset::UTC);
    let t = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    LocalTime {
        text: t.format(CSV_TIME_FORMAT).unwrap_or_default(),
        utc_offset: offset
            .format(UTC_OFFSET)
            .unwrap_or_else(|_| "+00:00".into()),
    }
}

/// Random characters in a temporary file's name.
const TEMP_NAME_RANDOM_BYTES: usize = 12;
/// Tries at a free temporary name before giving up (a clash of 96 random bits means a planted
/// file, not chance).
const TEMP_NAME_TRIES: usize = 4;

/// A new private file beside the export (`create_new`, 0600, an unpredictable name): nothing
/// planted at a guessable name (a link to another file) is ever followed or written.
fn create_temp_beside(dir: &Path, file_name: &str) -> std::io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMP_NAME_TRIES {
        let mut random = [0u8; TEMP_NAME_RANDOM_BYTES];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = dir.join(format!(".{file_name}.{}.tmp", hex::encode(random)));
        match crate::private_fs::create_new_private_file(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_times_are_spreadsheet_dates_in_utc() {
        assert_eq!(
            csv_time("2026-11-29T10:59:01.429569778Z"),
            "2026-11-29 10:59:01"
        );
        assert_eq!(csv_time("2026-11-29T12:59:01+02:00"), "2026-11-29 10:59:01");
        assert_eq!(csv_time("not a time"), "not a time");
        let header = csv_header();
        assert_eq!(header.len(), COLUMNS.len());
        assert!(
            header.contains(&"flashed_at (UTC)".to_string()),
            "{header:?}"
        );
        assert!(header.contains(&"lot".to_string()) && header.contains(&"work_order".to_string()));
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(neutralise_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise_cell("+1"), "'+1");
        assert_eq!(neutralise_cell("-x"), "'-x");
        assert_eq!(neutralise_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_cell("farm-001"), "farm-001");
        assert_eq!(neutralise_cell(""), "");
    }

    #[test]
    fn local_times_read_as_spreadsheet_dates_with_their_offset() {
        // 2026-11-29 10:59:01 UTC.
        let t = local_time(1_795_949_941, 3600);
        assert_eq!(t.text, "2026-11-29 11:59:01");
        assert_eq!(t.utc_offset, "+01:00");
        assert_eq!(
            local_time(1_795_949_941, -5 * 3600 - 1800).utc_offset,
            "-05:30"
        );
    }
}
