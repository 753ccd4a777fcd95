//! Secrets never reach logs or error messages: every log line of a full write at TRACE level,
//! and every error's Display and operator message, are searched for the password and API key.

use std::io::Write;
use std::sync::{Arc, Mutex};

use station_protocol::config::test_vector_config;
use station_protocol::device::{DeviceModel, MemoryStorage, ModelTransport, StorageError};
use station_protocol::{Client, ProtocolError};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const HWID: &str = "0102030405060708";

fn secrets() -> Vec<String> {
    let cfg = test_vector_config();
    vec![
        cfg.mqtt_password.to_string(),
        cfg.api_key.to_string(),
        // Escaped form, as it travels on the wire.
        station_protocol::codec::escape_value(cfg.mqtt_password.as_bytes()),
    ]
}

fn assert_clean(text: &str) {
    for s in secrets() {
        assert!(!text.contains(&s), "secret leaked into: {text}");
    }
}

#[test]
fn trace_logs_and_errors_of_a_write_hold_no_secret() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let cfg = test_vector_config();
        let model = DeviceModel::new(MemoryStorage::default(), HWID, "t-1").expect("model");
        let mut client = Client::new(ModelTransport::new(model));
        let id = client.hello().expect("hello");
        client
            .write_config(&cfg, &id.hardware_id, &mut |_| {})
            .expect("write");

        // A failing write: storage refuses at COMMIT.
        let mut model = DeviceModel::new(MemoryStorage::default(), HWID, "t-1").expect("model");
        model.storage_mut().fail_with = Some(StorageError::Failed("flash timeout".into()));
        let mut client = Client::new(ModelTransport::new(model));
        let err = client
            .write_config(&cfg, HWID, &mut |_| {})
            .expect_err("storage fails");
        for text in [
            err.to_string(),
            format!("{err:?}"),
            err.operator_message(),
            format!("{cfg:?}"),
        ] {
            assert_clean(&text);
        }
        // An invalid secret is refused before sending, naming only the key.
        let mut bad = cfg.clone();
        bad.api_key = zeroize::Zeroizing::new(format!("{}\u{0}", cfg.api_key.as_str()));
        let err: ProtocolError = client
            .write_config(&bad, HWID, &mut |_| {})
            .expect_err("NUL in api_key");
        assert!(err.operator_message().contains("api_key"));
        assert_clean(&format!("{err} {err:?} {}", err.operator_message()));
    });
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
    assert!(logs.contains("staging"), "logs were captured: {logs}");
    assert!(logs.contains("mqtt_password"));
    assert_clean(&logs);
}
