//! A shift report for a person: CSV (one row per shift, times as a spreadsheet reads them with
//! the offset in `utc_offset`) and a printable HTML page (print CSS; open it in a browser and
//! print, or keep it). Nothing secret is in a report: counts, names, times.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, Result};
use crate::export::{local_time, neutralise_cell, write_file_atomically, LocalTime};
use crate::shift::ShiftReport;
use crate::store::Store;

/// The CSV columns, in order: one place.
pub const CSV_COLUMNS: [&str; 13] = [
    "shift_id",
    "station_id",
    "started_at",
    "ended_at",
    "utc_offset",
    "operators",
    "passed",
    "failed",
    "failed_by_reason",
    "units_attempted",
    "first_pass_passed",
    "first_pass_yield_percent",
    "units_per_hour",
];

/// A report's times at the station's offset when the shift started (both times use it, so
/// the one `utc_offset` column is right for both).
pub struct ReportTimes {
    pub started: LocalTime,
    pub ended: Option<LocalTime>,
}

pub fn report_times(store: &Store, report: &ShiftReport) -> Result<ReportTimes> {
    let offset = store.utc_offset_at(report.started_at)?;
    Ok(ReportTimes {
        started: local_time(report.started_at, offset),
        ended: report.ended_at.map(|t| local_time(t, offset)),
    })
}

fn opt_number(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// Write `reports` as CSV; returns the number of rows.
pub fn write_csv(store: &Store, reports: &[ShiftReport], writer: &mut dyn Write) -> Result<u64> {
    let io_err = |e: csv::Error| CoreError::Io {
        action: "write the shift report",
        path: "(export)".into(),
        source: e.into(),
    };
    let mut w = csv::Writer::from_writer(writer);
    w.write_record(CSV_COLUMNS).map_err(io_err)?;
    for r in reports {
        let times = report_times(store, r)?;
        let cells = [
            r.id.to_string(),
            r.station_id.clone(),
            times.started.text,
            times.ended.map(|t| t.text).unwrap_or_default(),
            times.started.utc_offset,
            r.operators.join("; "),
            r.passed.to_string(),
            r.failed.to_string(),
            r.failed_by_reason_text(),
            r.units_attempted.to_string(),
            r.first_pass_passed.to_string(),
            opt_number(r.first_pass_yield_percent),
            opt_number(r.units_per_hour),
        ];
        // The offset is the station's own `+hh:mm`, never text a person typed: kept as is.
        let offset_at = CSV_COLUMNS.iter().position(|c| *c == "utc_offset");
        w.write_record(cells.iter().enumerate().map(|(i, c)| {
            if Some(i) == offset_at {
                c.clone()
            } else {
                neutralise_cell(c).into_owned()
            }
        }))
        .map_err(io_err)?;
    }
    w.flush().map_err(|e| io_err(e.into()))?;
    Ok(reports.len() as u64)
}

/// Text safe inside HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The printable page of one report: self-contained HTML with print CSS (A4, black on white).
pub fn report_html(store: &Store, r: &ShiftReport) -> Result<String> {
    let times = report_times(store, r)?;
    let ended = times
        .ended
        .as_ref()
        .map(|t| esc(&t.text))
        .unwrap_or_else(|| "still running".into());
    let reasons = if r.failed_by_reason.is_empty() {
        "<tr><td colspan=\"2\">No failures.</td></tr>".to_string()
    } else {
        r.failed_by_reason
            .iter()
            .map(|x| {
                format!(
                    "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&x.reason),
                    x.count
                )
            })
            .collect::<String>()
    };
    let fpy = r
        .first_pass_yield_percent
        .map(|v| format!("{v:.1} %"))
        .unwrap_or_else(|| "none attempted".into());
    let uph = r
        .units_per_hour
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "under a minute".into());
    Ok(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Shift {id} report, station {station}</title>
<style>
body {{ font: 12pt/1.4 sans-serif; color: #000; background: #fff; margin: 2em; }}
h1 {{ font-size: 18pt; margin: 0 0 .5em; }}
table {{ border-collapse: collapse; margin: 0 0 1.5em; min-width: 60%; }}
th, td {{ border: 1px solid #444; padding: .3em .6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
footer {{ font-size: 9pt; color: #444; }}
@media print {{ @page {{ size: A4; margin: 15mm; }} body {{ margin: 0; }} .noprint {{ display: none; }} }}
</style></head>
<body>
<h1>Shift {id} report, station {station}</h1>
<p class="noprint">Print this page from your browser (Ctrl+P) or keep it as the shift's record.</p>
<table>
<tr><th>Started</th><td>{started}</td></tr>
<tr><th>Ended</th><td>{ended}</td></tr>
<tr><th>UTC offset</th><td>{offset}</td></tr>
<tr><th>Operators</th><td>{operators}</td></tr>
<tr><th>Passed</th><td class="n">{passed}</td></tr>
<tr><th>Failed</th><td class="n">{failed}</td></tr>
<tr><th>Units attempted</th><td class="n">{attempted}</td></tr>
<tr><th>Passed on the first attempt</th><td class="n">{first}</td></tr>
<tr><th>First-pass yield</th><td class="n">{fpy}</td></tr>
<tr><th>Units per hour</th><td class="n">{uph}</td></tr>
</table>
<h2>Failed by reason</h2>
<table><tr><th>Reason</th><th>Count</th></tr>{reasons}</table>
<footer>First-pass yield: units whose first attempt in the shift passed, divided by units attempted; a re-flash is another attempt of the same unit.</footer>
</body></html>
"#,
        id = r.id,
        station = esc(&r.station_id),
        started = esc(&times.started.text),
        offset = esc(&times.started.utc_offset),
        operators = esc(&r.operators.join(", ")),
        passed = r.passed,
        failed = r.failed,
        attempted = r.units_attempted,
        first = r.first_pass_passed,
    ))
}

/// Which form a saved report takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Html,
}

impl ReportFormat {
    /// The form a file name asks for: `.html`/`.htm` is the printable page, else CSV.
    pub fn of_path(path: &Path) -> ReportFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => {
                ReportFormat::Html
            }
            _ => ReportFormat::Csv,
        }
    }
}

/// Save `reports` to `path` atomically: CSV, or (for one report) the printable page.
pub fn save(
    store: &Store,
    reports: &[ShiftReport],
    format: ReportFormat,
    path: &Path,
) -> Result<u64> {
    write_file_atomically(path, |w| match format {
        ReportFormat::Csv => write_csv(store, reports, w),
        ReportFormat::Html => {
            let [report] = reports else {
                return Err(CoreError::invalid(
                    "shift report",
                    "a printable page holds one shift",
                    "choose one shift, or save the reports as CSV",
                ));
            };
            w.write_all(report_html(store, report)?.as_bytes())
                .map_err(|source| CoreError::Io {
                    action: "write the shift report",
                    path: path.to_path_buf(),
                    source,
                })?;
            Ok(1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shift::ShiftResult;

    #[test]
    fn the_csv_has_spreadsheet_times_an_offset_and_the_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path().join("s.db")).expect("open");
        s.start_shift("=ana").expect("start");
        for (d, passed) in [(Some("a-1"), true), (None, false)] {
            s.record_shift_result(&ShiftResult {
                port: "p",
                device_id: d,
                passed,
                reason: (!passed).then_some("timeout"),
                operator: "=ana",
            })
            .expect("count");
        }
        let report = s.end_shift().expect("end");
        let path = dir.path().join("shift.csv");
        save(
            &s,
            std::slice::from_ref(&report),
            ReportFormat::of_path(&path),
            &path,
        )
        .expect("save");
        let mut rd = csv::Reader::from_path(&path).expect("read");
        assert_eq!(rd.headers().expect("headers"), &CSV_COLUMNS[..]);
        let row = rd.records().next().expect("row").expect("row");
        let at = |c: &str| row[CSV_COLUMNS.iter().position(|x| *x == c).expect(c)].to_string();
        assert_eq!(
            at("operators"),
            "'=ana",
            "a formula-looking name is neutralised"
        );
        assert_eq!((at("passed"), at("failed")), ("1".into(), "1".into()));
        assert_eq!(at("failed_by_reason"), "timeout: 1");
        assert_eq!(at("first_pass_yield_percent"), "50.0");
        let started = at("started_at");
        assert!(
            time::PrimitiveDateTime::parse(&started, SPREADSHEET_TIME_FOR_TEST).is_ok(),
            "{started}"
        );
        assert!(at("utc_offset").starts_with(['+', '-']));

        let html_path = dir.path().join("shift.html");
        save(&s, &[report], ReportFormat::of_path(&html_path), &html_path).expect("html");
        let html = std::fs::read_to_string(&html_path).expect("html");
        assert!(html.contains("@media print") && html.contains("=ana"));
        assert!(html.contains("50.0 %"));
    }

    const SPREADSHEET_TIME_FOR_TEST: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
}
