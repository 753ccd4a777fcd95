//! `station label` as a line lead uses it: real processes on a real SQLite file. The system
//! queue is the one thing mocked: CUPS cannot run reliably on a build machine (it needs its
//! daemon, a spool and a printer), so a stub `lp` on the station's PATH records its arguments
//! and standard input, and exits as told; everything up to spawning `lp` is the real code.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FAST_HASH: &str = "argon2:m=64,t=1,p=1";

struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    fn new() -> Self {
        let s = Station {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        s.ok(&["settings", "set", "hash_algorithm", FAST_HASH]);
        s.ok(&["type", "add", "WeatherStation", "--app-label", "myapp"]);
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_station"));
        c.args(args)
            .env("STATION_DB", self.dir.path().join("station.sqlite3"))
            .env("STATION_OPERATOR", "alice")
            .env_remove("STATION_LOG")
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run station");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// A stub `lp` in a folder of its own, exiting with `status`; returns the folder.
    fn stub_lp(&self, status: i32) -> PathBuf {
        let bin = self.dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let lp = bin.join("lp");
        std::fs::write(
            &lp,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"{d}/lp.argv\"\ncat > \"{d}/lp.stdin\"\n\
                 [ {status} -eq 0 ] || echo 'lp: The printer or class does not exist.' >&2\n\
                 exit {status}\n",
                d = self.dir.path().display()
            ),
        )
        .expect("write stub");
        std::fs::set_permissions(&lp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        bin
    }

    fn with_path(&self, bin: &Path, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.cmd(args).env("PATH", path).output().expect("run")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).expect(name)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A device with credentials issued; returns its id and the plaintext secrets printed once.
fn provisioned(s: &Station) -> (String, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&s.ok(&["provision", "WeatherStation", "--count", "1"]))
            .expect("json");
    let d = &v["devices"][0];
    let secrets = ["mqtt_password", "api_key"]
        .map(|k| d[k].as_str().expect(k).to_owned())
        .to_vec();
    (d["device_id"].as_str().expect("id").to_owned(), secrets)
}

#[test]
fn label_print_to_the_system_queue_runs_lp_raw_with_the_zpl() {
    let s = Station::new();
    let (id, secrets) = provisioned(&s);
    s.ok(&["settings", "set", "label.output", "queue"]);
    s.ok(&["settings", "set", "label.queue", "zebra_line3"]);
    let bin = s.stub_lp(0);
    let out = s.with_path(&bin, &["label", "print", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.read("lp.argv"), "-d\nzebra_line3\n-o\nraw\n");
    let zpl = s.read("lp.stdin");
    assert!(
        zpl.starts_with("^XA") && zpl.contains(&format!("^FDQA,DH1;id={id};")),
        "{zpl}"
    );
    for secret in &secrets {
        assert!(
            !zpl.contains(secret.as_str()),
            "a secret went to the printer"
        );
    }
    // --zpl shows the same label without printing it.
    assert_eq!(s.ok(&["label", "print", &id, "--zpl"]), zpl);
}

#[test]
fn a_queue_that_refuses_the_label_is_an_error_that_says_what_to_do() {
    let s = Station::new();
    let (id, _) = provisioned(&s);
    s.ok(&["settings", "set", "label.output", "queue"]);
    s.ok(&["settings", "set", "label.queue", "nope"]);
    let bin = s.stub_lp(1);
    let out = s.with_path(&bin, &["label", "print", &id]);
    assert_eq!(out.status.code(), Some(4), "refused: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nope") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("help:") && err.contains("lpstat"), "{err}");
}

#[test]
fn label_preview_writes_a_png_and_prints_nothing() {
    let s = Station::new();
    let (id, _) = provisioned(&s);
    let png = s.dir.path().join("label.png");
    s.ok(&[
        "label",
        "print",
        &id,
        "--preview",
        png.to_str().expect("path"),
    ]);
    let bytes = std::fs::read(&png).expect("png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn label_template_is_set_per_type_and_refuses_a_secret_field() {
    let s = Station::new();
    let shown = s.ok(&["label", "template", "WeatherStation"]);
    assert!(shown.contains("50 x 25 mm at 203 dpi"), "{shown}");
    let set = s.ok(&[
        "label",
        "template",
        "WeatherStation",
        "--size",
        "60x30",
        "--dpi",
        "300",
        "--fields",
        "device_id,mqtt_username",
        "--qr",
        "off",
    ]);
    assert!(
        set.contains("60 x 30 mm at 300 dpi; fields device_id,mqtt_username; QR code off"),
        "{set}"
    );
    let out = s
        .cmd(&[
            "label",
            "template",
            "WeatherStation",
            "--fields",
            "device_id,api_key",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("secret"), "{}", stderr(&out));
    assert!(
        s.ok(&["label", "template", "WeatherStation"])
            .contains("60 x 30"),
        "unchanged"
    );
}
