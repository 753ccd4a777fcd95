//! `station label print | template`: a device's label (printed, or drawn to a PNG or shown as
//! ZPL without printing) and a device type's label template. The service owns both
//! (`station_service::labels`); the printer is set with `station settings set label.*`.

use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};
use station_core::labels::{LabelTemplate, DPI_CHOICES};
use station_core::{CoreError, Store};
use station_service::labels::{self, Label};

use crate::stdout_err;

#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Print a device's label on the printer the settings name (label.output, label.printer,
    /// label.queue); with --preview or --zpl, nothing is printed.
    Print(PrintArgs),
    /// Show a device type's label template, or change it with any of the options.
    Template(TemplateArgs),
}

#[derive(Debug, Args)]
pub struct PrintArgs {
    pub device_id: String,
    /// Draw the label into this PNG file instead of printing it.
    #[arg(long, value_name = "PNG")]
    pub preview: Option<std::path::PathBuf>,
    /// Write the label's ZPL to standard output instead of printing it.
    #[arg(long, conflicts_with = "preview")]
    pub zpl: bool,
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The device type.
    pub device_type: String,
    /// Label size in millimetres, WIDTHxHEIGHT (e.g. 50x25).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// The printer's resolution in dots per inch: 203, 300 or 600.
    #[arg(long)]
    pub dpi: Option<u16>,
    /// The fields, top to bottom, comma-separated: device_id, name, device_type, hardware_id,
    /// mqtt_username (never a secret: there is no field for one).
    #[arg(long, value_name = "FIELDS")]
    pub fields: Option<String>,
    /// A QR code of the fields: on or off.
    #[arg(long, value_name = "on|off")]
    pub qr: Option<String>,
}

pub fn run(s: &mut Store, c: LabelCommand, out: &mut impl Write) -> Result<u8, CoreError> {
    match c {
        LabelCommand::Print(a) => print(s, &a, out),
        LabelCommand::Template(a) => template(s, a, out),
    }
}

fn print(s: &Store, a: &PrintArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    if a.preview.is_none() && !a.zpl {
        labels::print_device(s, &a.device_id)?;
        writeln!(out, "label printed for {}", a.device_id).map_err(stdout_err)?;
        return Ok(0);
    }
    let label = Label::of(s, &s.find_device(&a.device_id)?)?;
    match &a.preview {
        Some(path) => {
            write_preview(path, &label)?;
            writeln!(
                out,
                "label preview of {} written to {}",
                a.device_id,
                path.display()
            )
            .map_err(stdout_err)?;
        }
        None => out.write_all(label.zpl().as_bytes()).map_err(stdout_err)?,
    }
    Ok(0)
}

fn write_preview(path: &Path, label: &Label) -> Result<(), CoreError> {
    std::fs::write(path, label.preview_png()?).map_err(|source| CoreError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

fn template(s: &mut Store, a: TemplateArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let mut t = s.label_template(&a.device_type)?;
    let changing = a.size.is_some() || a.dpi.is_some() || a.fields.is_some() || a.qr.is_some();
    if let Some(size) = &a.size {
        (t.width_mm, t.height_mm) = parse_size(size)?;
    }
    if let Some(dpi) = a.dpi {
        t.dpi = dpi;
    }
    if let Some(fields) = &a.fields {
        t.fields = LabelTemplate::parse_fields(fields)?;
    }
    if let Some(qr) = &a.qr {
        station_core::settings::Rule::OnOff { field: "qr" }.check(qr)?;
        t.qr = station_core::settings::is_on(qr);
    }
    if changing {
        // A template that cannot be laid out is refused before it is stored.
        labels::set_template(s, &a.device_type, t.clone())?;
    }
    writeln!(
        out,
        "{}: {} x {} mm at {} dpi; fields {}; QR code {}",
        s.find_type(&a.device_type)?.name,
        t.width_mm,
        t.height_mm,
        t.dpi,
        t.fields_text(),
        station_core::settings::on_off(t.qr)
    )
    .map_err(stdout_err)?;
    Ok(0)
}

fn parse_size(size: &str) -> Result<(u16, u16), CoreError> {
    size.split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .ok_or_else(|| {
            CoreError::invalid(
                "label size",
                format!(
                    "'{}' is not WIDTHxHEIGHT in millimetres",
                    size.escape_default()
                ),
                format!("give it as e.g. 50x25 (and the printer's dpi: one of {DPI_CHOICES:?})"),
            )
        })
}
