//! Version 1.1's possession proof on the device side (spec §10.3): `PROVE <nonce>` answered with
//! `HMAC-SHA256(committed mqtt_password, "DHPROVE1:<device_id>:<nonce>")`, so a station can tell
//! that the unit holds the device's current password without the password leaving the unit.
//!
//! Like BAUD, PROVE bypasses the reply cache and the session: it is executed every time (the
//! same nonce gives the same mac), neither keeps its reply in the cache nor clears it, and opens
//! or closes no session.

use super::{DeviceModel, Handled, Storage};
use crate::codec::Frame;
use crate::command::{Command, Key};
use crate::error_code::DeviceErrorCode;
use crate::message::{ErrorReply, Reply, Response};
use crate::proof::{proof_mac, ProofNonce};

impl<S: Storage> DeviceModel<S> {
    /// Whether the device answers PROVE and lists `PROVE` in HELLO (default yes). `false` plays
    /// a protocol 1.0 unit, to which PROVE is an unknown command.
    pub fn with_prove(mut self, answers: bool) -> Self {
        self.prove = answers;
        self
    }

    /// `PROVE <nonce>`: the mac over the committed password; `NO_CONFIG` without one.
    pub(super) fn prove_request(&mut self, frame: &Frame, nonce: &ProofNonce) -> Handled {
        let answer = if !self.prove {
            Err(DeviceErrorCode::UnknownCommand)
        } else if let Some(config) = &self.committed {
            Ok(proof_mac(
                config.get(Key::MqttPassword),
                config.get_str(Key::DeviceId),
                nonce,
            ))
        } else {
            Err(DeviceErrorCode::NoConfig)
        };
        let (reply, ok) = match answer {
            Ok(mac) => (Response::encode_ok(frame.seq, &Reply::Prove { mac }), true),
            Err(code) => (
                Response::encode_err(
                    frame.seq,
                    &ErrorReply {
                        command_word: Command::Prove.name().to_owned(),
                        code,
                        detail: None,
                    },
                ),
                false,
            ),
        };
        Handled {
            reply,
            command: Some(Command::Prove),
            ok,
            replayed: false,
            switch_to: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameDecoder;
    use crate::config::test_vector_config;
    use crate::device::{MemoryStorage, StoredConfig};
    use crate::message::Request;
    use crate::spec;

    const NONCE: ProofNonce = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn provisioned() -> DeviceModel<MemoryStorage> {
        let mut storage = MemoryStorage::default();
        let blob = StoredConfig::from_config(&test_vector_config()).to_blob();
        storage.store(&blob).expect("store");
        DeviceModel::new(storage, "0102030405060708", "t-1").expect("model")
    }

    fn frame(req: &Request, seq: u8) -> Frame {
        FrameDecoder::new().push_slice(&req.encode(seq))[0].clone()
    }

    fn words(h: &Handled) -> Vec<String> {
        FrameDecoder::new().push_slice(&h.reply)[0].words.clone()
    }

    /// The unit answers §8.3's test vector from its committed password.
    #[test]
    fn prove_answers_the_test_vector_from_the_committed_password() {
        let mut m = provisioned();
        let h = m.handle_frame(&frame(&Request::Prove { nonce: NONCE }, 7));
        assert_eq!(
            words(&h),
            [
                "OK",
                "PROVE",
                "b05f5c0b9867bbb560f834805de6a8bb37ec67051792c3a18d6912a71e316f01"
            ]
        );
        assert!(m.capabilities().iter().any(|c| c == spec::CAP_PROVE));
    }

    /// Executed every time, never from the cache, and the cache and session are left alone.
    #[test]
    fn prove_is_never_answered_from_the_cache_and_leaves_it_alone() {
        let mut m = provisioned();
        let begin = frame(&Request::Begin, 5);
        let first = m.handle_frame(&begin);
        let prove = frame(&Request::Prove { nonce: NONCE }, 6);
        for _ in 0..2 {
            let h = m.handle_frame(&prove);
            assert!(h.ok && !h.replayed);
        }
        let again = m.handle_frame(&begin);
        assert!(again.replayed, "PROVE cleared the cache");
        assert_eq!(again.reply, first.reply);
        assert!(m.in_session(), "PROVE touched the session");
    }

    #[test]
    fn a_blank_unit_has_no_config_to_prove() {
        let mut m = DeviceModel::new(MemoryStorage::default(), "0A0B", "t-1").expect("model");
        let h = m.handle_frame(&frame(&Request::Prove { nonce: NONCE }, 2));
        assert_eq!(words(&h)[..3], ["ERR", "PROVE", "NO_CONFIG"]);
    }

    #[test]
    fn a_protocol_1_0_unit_does_not_know_prove() {
        let mut m = provisioned().with_prove(false);
        let h = m.handle_frame(&frame(&Request::Prove { nonce: NONCE }, 2));
        assert_eq!(words(&h)[..3], ["ERR", "PROVE", "UNKNOWN_COMMAND"]);
        assert!(!m.capabilities().iter().any(|c| c == spec::CAP_PROVE));
    }
}
