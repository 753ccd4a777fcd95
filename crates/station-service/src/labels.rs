//! Labels for every face: the ZPL a device's label prints as, the two outputs (a network
//! printer's raw port, the system queue through CUPS `lp`), the PNG preview, and the print after
//! a PASS that never fails the flash.
//!
//! What goes on a label is `station_core::labels`' (an enum of non-secret fields, so no
//! template can name a secret); this module lays it out once ([`Layout`]) and draws that one
//! layout twice: as ZPL for the printer and as pixels for the preview, so what Settings shows
//! is what prints. Field data goes into the ZPL through `^FH` hex escapes (`_5E` for `^`, `_7E`
//! for `~`, `_5F` for the escape character itself), so a name can never end a field or start a
//! command.
//!
//! A print after a PASS runs after the flash is recorded: a printer that is off, unreachable or
//! refuses reports "label not printed: <why>" next to the PASS and in the log, and the device
//! is reprinted from its screen or with `station label print`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

use qrcode::{EcLevel, QrCode};
use station_core::labels::{qr_payload, split_address, LabelOutput, LabelPrinter, LabelTemplate};
use station_core::{CoreError, Device, Store};

/// How long the station waits for a network printer to accept the connection.
pub const PRINTER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one write to a network printer may block.
pub const PRINTER_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The program that hands a job to the system print queue (CUPS).
pub const LP_PROGRAM: &str = "lp";
/// The QR code's error correction: Q (25 %), what `^FDQA,` asks the printer for; a label is
/// scratched and scanned at an angle on a line.
pub const QR_EC_LEVEL: EcLevel = EcLevel::Q;
/// The ZPL field-data prefix for [`QR_EC_LEVEL`] and automatic input mode.
const ZPL_QR_PREFIX: &str = "QA,";
/// ZPL's largest QR magnification.
const MAX_QR_MAGNIFICATION: u32 = 10;
/// The white border around the label's content, in millimetres.
const MARGIN_MM: u32 = 2;
/// The first line (the device id) and the others, in tenths of a millimetre of text height: the
/// most a line gets; a long one is set smaller to fit its column, down to [`MIN_TEXT_TENTHS_MM`].
const TITLE_TENTHS_MM: u32 = 40;
const LINE_TENTHS_MM: u32 = 30;
const MIN_TEXT_TENTHS_MM: u32 = 15;
/// Characters are set condensed, half as wide as tall (ZPL's scalable font 0 is narrow; the
/// preview's 8×8 glyphs are drawn at this width).
const CHAR_WIDTH_PER_HEIGHT: (u32, u32) = (1, 2);
/// The device record the Settings preview shows for a type that has printed no label yet.
pub const SAMPLE_HARDWARE_ID: &str = "A4CF12B3C4D5";

/// Why a label did not print. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("no label printer is set")]
    NoPrinter { output: LabelOutput },
    #[error("the label printer {address} cannot be reached: {}", io_words(source))]
    Unreachable {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the print queue could not be used: {source}")]
    NoQueueProgram {
        #[source]
        source: std::io::Error,
    },
    #[error("the print queue {queue} refused the label (lp exit status {status}): {stderr}")]
    QueueRefused {
        queue: String,
        status: String,
        stderr: String,
    },
    #[error("the label does not fit: {problem}")]
    DoesNotFit { problem: String },
}

/// A network failure in words for the person at the station.
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "nothing answers on that port (is the printer on?)".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "it did not answer in time".into(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            "it closed the connection before the label was sent".into()
        }
        _ => e.to_string(),
    }
}

impl LabelError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            LabelError::NoPrinter {
                output: LabelOutput::Network,
            } => "set the network label printer's address in Settings, Labels".into(),
            LabelError::NoPrinter {
                output: LabelOutput::Queue,
            } => "set the print queue's name in Settings, Labels".into(),
            LabelError::Unreachable { .. } => {
                "check the printer is switched on and on the network, and that Settings names its \
                 address and raw port (usually 9100); then reprint from the device's screen"
                    .into()
            }
            LabelError::NoQueueProgram { .. } => {
                "install the system's printing (CUPS) or print to a network printer instead".into()
            }
            LabelError::QueueRefused { .. } => {
                "check the queue's name and that it prints raw (lpstat -p lists the queues); then \
                 reprint from the device's screen"
                    .into()
            }
            LabelError::DoesNotFit { .. } => {
                "make the label larger in its device type's template, or show fewer fields".into()
            }
        }
    }
}

impl From<LabelError> for CoreError {
    fn from(e: LabelError) -> Self {
        let fix = e.help();
        match e {
            LabelError::DoesNotFit { .. } => {
                CoreError::invalid("label template", e.to_string(), fix)
            }
            _ => CoreError::Refused {
                problem: format!("The label was not printed: {e}."),
                fix,
            },
        }
    }
}

/// One line of text on the label, in dots from the top left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    pub x: u32,
    pub y: u32,
    /// Character height in dots.
    pub height: u32,
    /// Character width in dots.
    pub char_width: u32,
    /// The widest the line may run, in dots.
    pub width: u32,
    pub text: String,
}

/// The QR code on the label.
#[derive(Debug, Clone)]
pub struct QrBlock {
    pub x: u32,
    pub y: u32,
    /// Dots per module (ZPL's magnification).
    pub magnification: u32,
    pub payload: String,
    /// Modules per side.
    pub modules: u32,
    /// Dark modules, row by row.
    dark: Vec<bool>,
}

/// A label laid out in printer dots: what both the ZPL and the preview draw.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub lines: Vec<TextLine>,
    pub qr: Option<QrBlock>,
}

impl Layout {
    /// Lay out `device`'s label under `template`.
    pub fn new(template: &LabelTemplate, device: &Device) -> Result<Layout, LabelError> {
        let (width, height) = (template.width_dots(), template.height_dots());
        let dpmm = template.dots_per_mm();
        let margin = MARGIN_MM * dpmm;
        let inner_h = height.saturating_sub(2 * margin);
        let mut text_right = width.saturating_sub(margin);
        let qr = if template.qr {
            let payload = qr_payload(template, device);
            let code = QrCode::with_error_correction_level(payload.as_bytes(), QR_EC_LEVEL)
                .map_err(|e| LabelError::DoesNotFit {
                    problem: format!("the QR code cannot hold the fields ({e})"),
                })?;
            let modules = u32::try_from(code.width()).unwrap_or(u32::MAX);
            let magnification = (inner_h / modules).min(MAX_QR_MAGNIFICATION);
            if magnification < 2 {
                return Err(LabelError::DoesNotFit {
                    problem: format!(
                        "a QR code of {modules} modules needs at least {} mm of height",
                        (2 * modules + 2 * margin).div_ceil(dpmm)
                    ),
                });
            }
            let side = modules * magnification;
            let x = width.saturating_sub(margin + side);
            text_right = x.saturating_sub(margin);
            Some(QrBlock {
                x,
                y: margin + (inner_h - side) / 2,
                magnification,
                payload,
                modules,
                dark: code
                    .to_colors()
                    .into_iter()
                    .map(|c| c == qrcode::Color::Dark)
                    .collect(),
            })
        } else {
            None
        };
        let text_width = text_right.saturating_sub(margin);
        let mut lines = Vec::new();
        let mut y = margin;
        for (i, field) in template.fields.iter().enumerate() {
            let value = field.value(device);
            let text = match field.caption() {
                "" => value,
                caption => format!("{caption}: {value}"),
            };
            let nominal = if i == 0 {
                TITLE_TENTHS_MM
            } else {
                LINE_TENTHS_MM
            } * dpmm
                / 10;
            let smallest = MIN_TEXT_TENTHS_MM * dpmm / 10;
            let chars = u32::try_from(text.chars().count().max(1)).unwrap_or(u32::MAX);
            let (num, den) = CHAR_WIDTH_PER_HEIGHT;
            let fitting = text_width.saturating_mul(den) / chars.saturating_mul(num).max(1);
            let line_height = fitting.clamp(smallest, nominal.max(smallest));
            if y + line_height > height.saturating_sub(margin) {
                break;
            }
            lines.push(TextLine {
                x: margin,
                y,
                height: line_height,
                char_width: (line_height * num / den).max(1),
                width: text_width,
                text,
            });
            y += line_height + dpmm / 2;
        }
        if lines.is_empty() || text_width < 4 * dpmm {
            return Err(LabelError::DoesNotFit {
                problem: "no room is left for the text".into(),
            });
        }
        Ok(Layout {
            width,
            height,
            lines,
            qr,
        })
    }

    /// The label as ZPL II, UTF-8 (`^CI28`), every field's data hex-escaped.
    pub fn zpl(&self) -> String {
        let mut z = format!(
            "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0\n",
            self.width, self.height
        );
        for l in &self.lines {
            // A one-line field block keeps the text in its column whatever the font's widths.
            z.push_str(&format!(
                "^FO{},{}^A0N,{},{}^FB{},1,0,L,0^FH^FD{}^FS\n",
                l.x,
                l.y,
                l.height,
                l.char_width,
                l.width,
                zpl_escape(&l.text)
            ));
        }
        if let Some(q) = &self.qr {
            z.push_str(&format!(
                "^FO{},{}^BQN,2,{}^FH^FD{ZPL_QR_PREFIX}{}^FS\n",
                q.x,
                q.y,
                q.magnification,
                zpl_escape(&q.payload)
            ));
        }
        z.push_str("^XZ\n");
        z
    }

    /// The label drawn 1:1 in printer dots, black on white, as an 8-bit grey PNG.
    pub fn preview_png(&self) -> Result<Vec<u8>, CoreError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut pixels = vec![0xFFu8; w * h];
        let mut dark = |x: u32, y: u32| {
            if let Some(p) = pixels.get_mut(y as usize * w + x as usize) {
                if (x as usize) < w {
                    *p = 0;
                }
            }
        };
        for l in &self.lines {
            // Each 8×8 glyph scaled to the line's cell, nearest neighbour.
            let max_chars = (l.width / l.char_width) as usize;
            for (i, c) in l.text.chars().take(max_chars).enumerate() {
                let glyph = font8x8::legacy::BASIC_LEGACY
                    [usize::from(if c.is_ascii() { c as u8 } else { b'?' })];
                let gx = l.x + i as u32 * l.char_width;
                for py in 0..l.height {
                    let bits = glyph[(py * 8 / l.height) as usize];
                    for px in 0..l.char_width {
                        if bits & (1 << (px * 8 / l.char_width)) != 0 {
                            dark(gx + px, l.y + py);
                        }
                    }
                }
            }
        }
        if let Some(q) = &self.qr {
            for (i, dark_module) in q.dark.iter().enumerate() {
                if *dark_module {
                    let (mx, my) = (i as u32 % q.modules, i as u32 / q.modules);
                    for dy in 0..q.magnification {
                        for dx in 0..q.magnification {
                            dark(
                                q.x + mx * q.magnification + dx,
                                q.y + my * q.magnification + dy,
                            );
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let png_err = |e: png::EncodingError| {
            CoreError::Internal(format!("cannot draw the label preview: {e}"))
        };
        let mut writer = encoder.write_header().map_err(png_err)?;
        writer.write_image_data(&pixels).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        Ok(out)
    }
}

/// `text` as ZPL field data under `^FH`: `^`, `~`, `_` and control characters as `_XX`.
pub fn zpl_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '^' | '~' | '_') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("_{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A device's label, ready to print or preview.
#[derive(Debug, Clone)]
pub struct Label {
    pub device_id: String,
    pub template: LabelTemplate,
    pub layout: Layout,
}

impl Label {
    /// The label of `device` under its type's template.
    pub fn of(store: &Store, device: &Device) -> Result<Label, CoreError> {
        let template = store.label_template(&device.device_type)?;
        Label::with_template(device, template)
    }

    /// The label of `device` under `template` (a template being edited, for its preview).
    pub fn with_template(device: &Device, template: LabelTemplate) -> Result<Label, CoreError> {
        template.validate()?;
        let layout = Layout::new(&template, device)?;
        Ok(Label {
            device_id: device.device_id.clone(),
            template,
            layout,
        })
    }

    pub fn zpl(&self) -> String {
        self.layout.zpl()
    }

    pub fn preview_png(&self) -> Result<Vec<u8>, CoreError> {
        self.layout.preview_png()
    }
}

/// Give device type `type_name` its template, after laying it out on a made-up device: a
/// template that cannot be laid out (a QR code too big for the label, ...) is refused and
/// changes nothing. Returns that layout, for a preview. One rule for the CLI and the app.
pub fn set_template(
    store: &mut Store,
    type_name: &str,
    template: LabelTemplate,
) -> Result<Label, CoreError> {
    let label = Label::with_template(&sample_device(store, type_name)?, template)?;
    store.set_label_template(type_name, &label.template)?;
    Ok(label)
}

/// A made-up record of `type_name` for the Settings preview: looks like a real one, is none.
pub fn sample_device(store: &Store, type_name: &str) -> Result<Device, CoreError> {
    let t = store.find_type(type_name)?;
    let device_id = format!("line-{}-001", station_core::naming::type_key(&t.name));
    Ok(Device {
        pk: 0,
        name: format!("{} line 001", t.name),
        mqtt_username: t.mqtt_username(&device_id),
        topics: t.topics(&device_id),
        hardware_id: Some(SAMPLE_HARDWARE_ID.into()),
        device_type: t.name,
        device_id,
        batch_id: None,
        unit_serial: None,
        lot: None,
        work_order: None,
        status: station_core::DeviceStatus::Provisioning,
        is_active: true,
        firmware_version: String::new(),
        generation: 1,
        has_credentials: true,
        api_key_fingerprint: None,
        pending_generation: None,
        last_generation: 1,
        flash_state: station_core::FlashState::Flashed,
        flash_error: None,
        flashed_at: None,
        rotation_due: false,
        station_id: String::new(),
        operator: String::new(),
        metadata: serde_json::Value::Object(Default::default()),
        sync_state: station_core::SyncState::NotQueued,
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// Send `zpl` to the printer the settings name.
pub fn send(printer: &LabelPrinter, zpl: &[u8]) -> Result<(), LabelError> {
    match printer.output {
        LabelOutput::Network => {
            let address = printer.address.trim();
            if address.is_empty() {
                return Err(LabelError::NoPrinter {
                    output: printer.output,
                });
            }
            send_tcp(address, zpl)
        }
        LabelOutput::Queue => {
            let queue = printer.queue.trim();
            if queue.is_empty() {
                return Err(LabelError::NoPrinter {
                    output: printer.output,
                });
            }
            send_lp(queue, zpl)
        }
    }
}

fn send_tcp(address: &str, zpl: &[u8]) -> Result<(), LabelError> {
    let unreachable = |source| LabelError::Unreachable {
        address: address.to_owned(),
        source,
    };
    let (host, port) = split_address(address).ok_or_else(|| {
        unreachable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a host[:port]",
        ))
    })?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(unreachable)?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PRINTER_CONNECT_TIMEOUT) {
            Ok(mut stream) => {
                stream
                    .set_write_timeout(Some(PRINTER_WRITE_TIMEOUT))
                    .map_err(unreachable)?;
                stream.write_all(zpl).map_err(unreachable)?;
                stream.flush().map_err(unreachable)?;
                // The printer reads to the end of the stream: close our side cleanly.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
}

fn send_lp(queue: &str, zpl: &[u8]) -> Result<(), LabelError> {
    let mut child = Command::new(LP_PROGRAM)
        .args(["-d", queue, "-o", "raw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabelError::NoQueueProgram { source })?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(zpl))
        .unwrap_or(Ok(()));
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child
        .wait()
        .map_err(|source| LabelError::NoQueueProgram { source })?;
    if !status.success() || written.is_err() {
        return Err(LabelError::QueueRefused {
            queue: queue.to_owned(),
            status: status
                .code()
                .map_or_else(|| "killed".into(), |c| c.to_string()),
            stderr: stderr.trim().chars().take(300).collect(),
        });
    }
    Ok(())
}

/// Print device `device_id`'s label on the printer in the settings (a reprint, or the CLI's
/// `station label print`).
pub fn print_device(store: &Store, device_id: &str) -> Result<Label, CoreError> {
    let (printer, label) = print_job(store, device_id)?;
    send_label(&printer, &label)?;
    Ok(label)
}

/// What printing `device_id`'s label needs from the database: the printer and the label. A face
/// that must not hold the database while a printer answers reads this, then calls
/// [`send_label`].
pub fn print_job(store: &Store, device_id: &str) -> Result<(LabelPrinter, Label), CoreError> {
    let device = store.find_device(device_id)?;
    Ok((store.label_printer()?, Label::of(store, &device)?))
}

/// Send `label` to `printer`, and log it.
pub fn send_label(printer: &LabelPrinter, label: &Label) -> Result<(), CoreError> {
    send(printer, label.zpl().as_bytes())?;
    tracing::info!(device_id = label.device_id, "label printed");
    Ok(())
}

/// What became of the label after a PASS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterPass {
    /// Printing on PASS is off.
    Off,
    Printed,
    /// "label not printed: <why>; <what to do>", for the operator; logged too.
    NotPrinted(String),
}

impl AfterPass {
    /// Whether the label came out.
    pub fn printed(&self) -> bool {
        *self == AfterPass::Printed
    }

    /// Why it did not, when printing was asked for and failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            AfterPass::NotPrinted(why) => Some(why),
            _ => None,
        }
    }
}

/// After a PASS: print `device`'s label when the settings ask for it. Never fails the flash.
pub fn print_after_pass(store: &Store, device: &Device) -> AfterPass {
    let printer = match store.label_printer() {
        Ok(p) if p.on_pass => p,
        Ok(_) => return AfterPass::Off,
        Err(e) => return not_printed(device, &e.to_string(), &e.help()),
    };
    let label = match Label::of(store, device) {
        Ok(label) => label,
        Err(e) => return not_printed(device, &e.to_string(), &e.help()),
    };
    match send(&printer, label.zpl().as_bytes()) {
        Ok(()) => {
            tracing::info!(device_id = device.device_id, "label printed");
            AfterPass::Printed
        }
        Err(e) => not_printed(device, &e.to_string(), &e.help()),
    }
}

fn not_printed(device: &Device, why: &str, fix: &str) -> AfterPass {
    tracing::warn!(
        device_id = device.device_id,
        why,
        fix,
        "label not printed; the flash stands"
    );
    AfterPass::NotPrinted(format!("label not printed: {why}; {fix}"))
}
