//! `station sync status | run | retry | config`: the central server, from the command line.
//!
//! Each subcommand calls one `station_sync` function and prints its result (text, or JSON with
//! --json: the same structures the desktop app shows). The station token is read from standard
//! input only (never an argument: it would land in shell history and `ps`), kept in the
//! credential store (`station_sync::credential_store`), and no part of it is ever printed:
//! only where it is stored. Warnings about the connection (plain http to another machine, an
//! explicit test-bench exception) go to standard error at every sync.
//!
//! Exit codes: 0 ok; 4 records refused by the server (a person must act) or invalid settings;
//! 75 the server could not be reached or had a temporary problem (records wait in the outbox).

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use station_core::{CoreError, Store};
use station_sync::{ConfigUpdate, Health, StationToken, SyncConfig, SyncStatus};

/// Exit code: records were refused, or a setting is invalid.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code (sysexits' EX_TEMPFAIL): try again later; nothing is lost.
pub const EXIT_TEMPORARY: u8 = 75;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Show whether records reached the server: waiting, refused (with the server's reason),
    /// last success, last error, leased id blocks.
    Status(SyncStatusArgs),
    /// Sync now: check the token, pull the server's device types, send every waiting record,
    /// lease id blocks, refresh device status.
    Run(SyncRunArgs),
    /// Send records the server refused again once their cause is fixed (all, or one device's),
    /// and waiting ones without waiting for their retry time.
    Retry(SyncRetryArgs),
    /// Set the server URL, the station token (read from standard input), TLS and batch size.
    Config(SyncConfigArgs),
}

#[derive(Debug, Args)]
pub struct SyncStatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncRunArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncRetryArgs {
    /// Only this device's refused records.
    pub device_id: Option<String>,
    /// Sync right away afterwards.
    #[arg(long)]
    pub run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncConfigArgs {
    /// The receiver's address, e.g. https://devicehub.factory.local/station-sync/
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Read the station token (from `manage.py station_tokens create NAME`) from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    /// A PEM file with the CA certificate(s) of the factory network, trusted besides the
    /// built-in roots.
    #[arg(long, value_name = "PATH", conflicts_with = "no_ca_file")]
    pub ca_file: Option<PathBuf>,
    /// Stop trusting the extra CA file.
    #[arg(long)]
    pub no_ca_file: bool,
    /// Verify the server's TLS certificate (default true; false only on a test bench).
    #[arg(long, value_name = "BOOL")]
    pub tls_verify: Option<bool>,
    /// Records per request (1 to 1000).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Allow plain http to a server that is not this machine: a test bench only (the token and
    /// records cross the network readable); warned at every sync. Plain http to 127.0.0.0/8,
    /// ::1 and localhost needs no flag.
    #[arg(long)]
    pub insecure_http: bool,
    /// Turn sync off (ids are numbered locally again; waiting records stay in the outbox) and
    /// delete the station token from its store.
    #[arg(long, conflicts_with_all = ["url", "token_stdin", "ca_file", "no_ca_file", "tls_verify", "batch_size", "insecure_http"])]
    pub off: bool,
}

fn write_err(source: std::io::Error) -> CoreError {
    CoreError::Io {
        action: "write to",
        path: "standard output".into(),
        source,
    }
}

fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CoreError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CoreError::Internal(format!("json: {e}")))?;
    writeln!(out, "{text}").map_err(write_err)
}

/// Run one `station sync` subcommand; returns the exit code.
pub fn run(store: &mut Store, command: SyncCommand, out: &mut dyn Write) -> Result<u8, CoreError> {
    match command {
        SyncCommand::Status(a) => {
            let s = station_sync::status(store)?;
            warn(&s.warnings);
            if a.json {
                json(out, &s)?;
            } else {
                print_status(out, &s)?;
            }
            Ok(0)
        }
        SyncCommand::Run(a) => sync_now(store, a.json, out),
        SyncCommand::Retry(a) => {
            let n = store.outbox_retry(a.device_id.as_deref())?;
            if !a.json {
                writeln!(out, "{n} refused change(s) queued again").map_err(write_err)?;
            }
            if a.run {
                return sync_now(store, a.json, out);
            }
            if a.json {
                json(out, &serde_json::json!({ "requeued": n }))?;
            }
            Ok(0)
        }
        SyncCommand::Config(a) => configure(store, a, out),
    }
}

fn sync_now(store: &mut Store, as_json: bool, out: &mut dyn Write) -> Result<u8, CoreError> {
    let config = SyncConfig::require(store)?;
    warn(&config.warnings());
    let report = station_sync::run_once(store, &config)?;
    if as_json {
        json(out, &report)?;
    } else {
        let p = &report.push;
        if let Some(s) = &report.station {
            writeln!(
                out,
                "server: station {} #{}",
                s.station.name, s.station.number
            )
            .map_err(write_err)?;
        }
        if let Some(c) = &report.catalog {
            for t in &c.updated {
                writeln!(
                    out,
                    "type {t}: updated to the server's app label and topics"
                )
                .map_err(write_err)?;
            }
            for m in c.mismatched.iter().chain(&c.server_only) {
                writeln!(out, "type note: {m}").map_err(write_err)?;
            }
        }
        writeln!(
            out,
            "sent {} record(s) in {} batch(es) of up to {}: {} acknowledged, {} refused; {} change(s) still waiting",
            p.sent, p.batches, p.batch_size, p.acknowledged, p.rejected, p.remaining
        )
        .map_err(write_err)?;
        if report.leases_added > 0 {
            writeln!(out, "leased {} id block(s)", report.leases_added).map_err(write_err)?;
        }
        for n in &report.notes {
            writeln!(out, "note: {n}").map_err(write_err)?;
        }
        if let Some(e) = &p.error {
            writeln!(out, "stopped: {}", e.message).map_err(write_err)?;
            writeln!(out, "  help: {}", e.help).map_err(write_err)?;
            if let Some(at) = &e.retry_at {
                writeln!(out, "  next automatic retry at {at}").map_err(write_err)?;
            }
        }
        if p.rejected > 0 {
            writeln!(
                out,
                "refused records keep the server's reason: `station sync status`; fix the cause, \
                 then `station sync retry`"
            )
            .map_err(write_err)?;
        }
    }
    Ok(match &report.push.error {
        Some(e) if e.temporary => EXIT_TEMPORARY,
        Some(_) => EXIT_REFUSED,
        None if report.push.rejected > 0 => EXIT_REFUSED,
        None => 0,
    })
}

fn configure(store: &mut Store, a: SyncConfigArgs, out: &mut dyn Write) -> Result<u8, CoreError> {
    if a.off {
        SyncConfig::disable(store)?;
        writeln!(out, "sync is off; no station token is kept").map_err(write_err)?;
        return Ok(0);
    }
    let token = if a.token_stdin {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CoreError::Io {
                action: "read the station token from",
                path: "standard input".into(),
                source,
            })?;
        Some(StationToken::parse(&text)?)
    } else {
        None
    };
    let configured = station_sync::configure(
        store,
        ConfigUpdate {
            server_url: a.url,
            token,
            ca_file: if a.no_ca_file {
                Some(None)
            } else {
                a.ca_file.map(Some)
            },
            tls_verify: a.tls_verify,
            batch_size: a.batch_size,
            insecure_http: a.insecure_http.then_some(true),
        },
    )?;
    let config = &configured.config;
    warn(&config.warnings());
    writeln!(
        out,
        "sync to {} as station #{} (token: {}), TLS verification {}{}, batches of {}",
        config.server_url,
        config.token.station_number(),
        config.token_source,
        if config.tls_verify { "on" } else { "OFF" },
        config
            .ca_file
            .as_ref()
            .map(|p| format!(" with CA file {}", p.display()))
            .unwrap_or_default(),
        config.batch_size
    )
    .map_err(write_err)?;
    print_seal_key(out, &configured)?;
    writeln!(out, "check it with `station sync run`").map_err(write_err)?;
    Ok(0)
}

/// The fingerprint the operator compares with `manage.py station_sync_sealkey --show`.
fn print_seal_key(out: &mut dyn Write, c: &station_sync::Configured) -> Result<(), CoreError> {
    writeln!(
        out,
        "api keys are sealed to the server's key {}\n  compare it with `manage.py \
         station_sync_sealkey --show` on the server",
        c.seal_key.fingerprint()
    )
    .map_err(write_err)?;
    if c.sealed_now > 0 {
        writeln!(
            out,
            "sealed {} api key(s) that waited in readable form",
            c.sealed_now
        )
        .map_err(write_err)?;
    }
    Ok(())
}

/// How the api keys waiting for the server are held, in words.
fn api_keys_line(s: &SyncStatus) -> String {
    match (&s.seal_key_fingerprint, s.plaintext_api_keys) {
        (_, n) if n > 0 && s.health == Health::Off => {
            format!("api keys waiting in readable form (sync is off, nothing to seal them to): {n}")
        }
        (_, n) if n > 0 => format!(
            "api keys waiting in readable form (sync has no seal key yet: run `station sync \
             config`): {n}"
        ),
        (Some(fp), _) => format!(
            "api keys waiting, sealed to the server's key {fp}: {}",
            s.sealed_api_keys
        ),
        (None, _) => "api keys waiting in readable form: 0".into(),
    }
}

/// Connection warnings, on standard error so scripts reading standard output are unaffected.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

fn print_status(out: &mut dyn Write, s: &SyncStatus) -> Result<(), CoreError> {
    let mut w = |line: String| writeln!(out, "{line}").map_err(write_err);
    let health = match s.health {
        Health::Off => "off (not configured: `station sync config --url URL --token-stdin`)",
        Health::Synced => "synced: the server has every record",
        Health::Pending => "pending: records wait to be sent",
        Health::Offline => "offline: the server cannot be reached; records wait and are retried",
        Health::Failing => {
            "failing: the server does not accept this station (check `station sync config`)"
        }
        Health::NeedsAttention => "needs attention: the server refused records",
    };
    w(format!("sync: {health}"))?;
    if let Some(url) = &s.server_url {
        w(format!(
            "server: {url} as {}, TLS verification {}{}",
            s.server_station
                .clone()
                .or(s.station_number.map(|n| format!("station #{n}")))
                .unwrap_or_default(),
            if s.tls_verify { "on" } else { "OFF" },
            s.ca_file
                .as_ref()
                .map(|p| format!(", CA file {p}"))
                .unwrap_or_default()
        ))?;
    }
    if s.server_url.is_some() {
        w(format!(
            "token: {}",
            s.token_store
                .as_deref()
                .unwrap_or("none kept for this station")
        ))?;
    }
    for warning in &s.warnings {
        w(format!("warning: {warning}"))?;
    }
    let o = &s.outbox;
    w(format!(
        "outbox: {} change(s) of {} device(s) waiting ({} due now), {} refused, {} done",
        o.pending, o.pending_devices, o.due, o.rejected, o.done
    ))?;
    if let Some(t) = &o.oldest_pending_at {
        w(format!("  oldest waiting since {t}"))?;
    }
    if let Some(t) = &o.next_attempt_at {
        w(format!("  next retry at {t}"))?;
    }
    w(format!(
        "last attempt: {}; last success: {}",
        s.last_attempt_at.as_deref().unwrap_or("never"),
        s.last_success_at.as_deref().unwrap_or("never")
    ))?;
    if let Some(e) = &s.last_error {
        w(format!("last error: {e}"))?;
    }
    if let Some(n) = &s.catalog_notes {
        w(format!("device types: {n}"))?;
    }
    for l in &s.id_leases {
        w(format!(
            "id block: {}{}-NNN numbers {}..{} ({} left)",
            l.prefix,
            l.device_type.to_lowercase(),
            l.next_number,
            l.end_number - 1,
            l.remaining()
        ))?;
    }
    w(api_keys_line(s))?;
    for r in &s.rejected {
        w(format!(
            "REFUSED {} (generation {}): {}",
            r.device_id, r.generation, r.reason
        ))?;
    }
    if !s.rejected.is_empty() {
        w("fix the cause, then `station sync retry [DEVICE_ID]`".into())?;
    }
    Ok(())
}
