//! Version 1.1's faster wire on the device side (spec §10.1): which rates BAUD accepts, the
//! `BAUD` capability, the BAUD request itself, and the return to 115200 after
//! [`spec::BAUD_IDLE_REVERT`] without a valid frame or a reply.
//!
//! BAUD bypasses the reply cache and the session: it is executed every time, answered at the
//! old rate, and the new rate is handed to the host ([`Handled::switch_to`]), which runs its UART
//! at it once the reply has left. The model owns no clock: the host passes its time to
//! [`DeviceModel::handle_frame_at`] and [`DeviceModel::idle_revert`], so a test can drive the
//! timer by hand.

use std::time::Instant;

use super::{DeviceModel, Handled, Storage};
use crate::codec::Frame;
use crate::command::Command;
use crate::error_code::DeviceErrorCode;
use crate::message::{ErrorReply, Reply, Response};
use crate::spec;

impl<S: Storage> DeviceModel<S> {
    /// The rates besides 115200 that BAUD accepts (default [`spec::FAST_BAUD_RATES`]). An empty
    /// list makes a protocol 1.0 unit: no `BAUD` in HELLO, and BAUD is an unknown command.
    pub fn with_baud_rates(mut self, rates: &[u32]) -> Self {
        self.baud_rates = rates.iter().copied().filter(|r| *r > 0).collect();
        self
    }

    /// The rates besides 115200 that BAUD accepts.
    pub fn baud_rates(&self) -> &[u32] {
        &self.baud_rates
    }

    /// The rate the device's UART runs at now.
    pub fn baud_rate(&self) -> u32 {
        self.baud
    }

    /// A reset (power-up, or a board that resets when the port is opened): back at 115200.
    pub fn reset_link(&mut self) {
        self.baud = spec::BAUD_RATE;
        self.last_activity = None;
    }

    /// The host's clock reads `now`: a device away from 115200 that has neither received a
    /// valid frame nor sent a reply for [`spec::BAUD_IDLE_REVERT`] returns to 115200. Returns
    /// the rate to run the UART at when it changed.
    pub fn idle_revert(&mut self, now: Instant) -> Option<u32> {
        if self.baud == spec::BAUD_RATE {
            return None;
        }
        let idle = self
            .last_activity
            .is_none_or(|t| now.saturating_duration_since(t) >= spec::BAUD_IDLE_REVERT);
        if !idle {
            return None;
        }
        tracing::debug!(from = self.baud, "idle: line speed back to 115200");
        self.baud = spec::BAUD_RATE;
        Some(self.baud)
    }

    /// HELLO's capability tokens: version 1's, plus `BAUD` when the device has a rate to offer,
    /// `PROVE` when it answers possession proofs (spec §10.3), then `GATE` and `FRAME<n>`
    /// (spec §10.2, §10.3), in that order.
    pub(super) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = spec::CAPABILITIES_V1
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        if !self.baud_rates.is_empty() {
            caps.push(spec::CAP_BAUD.to_owned());
        }
        if self.prove {
            caps.push(spec::CAP_PROVE.to_owned());
        }
        caps.extend(self.gate_capabilities());
        caps
    }

    /// `BAUD <rate>`: accepted for 115200 and the configured rates, refused with BAD_VALUE
    /// otherwise (nothing changes); a 1.0 unit does not know the command.
    pub(super) fn baud_request(&mut self, frame: &Frame, rate: u32) -> Handled {
        let refusal = if self.baud_rates.is_empty() {
            Some(DeviceErrorCode::UnknownCommand)
        } else if rate != spec::BAUD_RATE && !self.baud_rates.contains(&rate) {
            Some(DeviceErrorCode::BadValue)
        } else {
            None
        };
        if let Some(code) = refusal {
            let reply = Response::encode_err(
                frame.seq,
                &ErrorReply {
                    command_word: Command::Baud.name().to_owned(),
                    code,
                    detail: None,
                },
            );
            return baud_handled(reply, false, None);
        }
        self.baud = rate;
        let reply = Response::encode_ok(frame.seq, &Reply::Baud { rate });
        baud_handled(reply, true, Some(rate))
    }
}

fn baud_handled(reply: Vec<u8>, ok: bool, switch_to: Option<u32>) -> Handled {
    Handled {
        reply,
        command: Some(Command::Baud),
        ok,
        replayed: false,
        switch_to,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::codec::FrameDecoder;
    use crate::device::MemoryStorage;
    use crate::message::Request;

    fn model() -> DeviceModel<MemoryStorage> {
        DeviceModel::new(MemoryStorage::default(), "0102030405060708", "t-1").expect("model")
    }

    fn frame(req: &Request, seq: u8) -> Frame {
        FrameDecoder::new().push_slice(&req.encode(seq))[0].clone()
    }

    fn words(h: &Handled) -> Vec<String> {
        FrameDecoder::new().push_slice(&h.reply)[0].words.clone()
    }

    /// The device returns to 115200 only after BAUD_IDLE_REVERT with neither a valid frame nor a
    /// reply; each frame restarts the timer. Driven by a clock the test moves by hand.
    #[test]
    fn idle_revert_follows_the_hosts_clock_and_restarts_on_every_frame() {
        let mut m = model();
        let t0 = Instant::now();
        let step = |ms: u64| t0 + Duration::from_millis(ms);
        let h = m.handle_frame_at(&frame(&Request::Baud { rate: 921_600 }, 2), t0);
        assert_eq!((h.ok, h.switch_to), (true, Some(921_600)));
        assert_eq!(m.idle_revert(step(999)), None);
        assert_eq!(m.baud_rate(), 921_600);
        // A HELLO at 900 ms restarts the timer: no revert at 1000 ms, nor at 1899 ms.
        m.handle_frame_at(&frame(&Request::Hello { version: 1 }, 3), step(900));
        assert_eq!(m.idle_revert(step(1000)), None);
        assert_eq!(m.idle_revert(step(1899)), None);
        assert_eq!(m.idle_revert(step(1900)), Some(spec::BAUD_RATE));
        assert_eq!(m.baud_rate(), spec::BAUD_RATE);
        // At 115200 there is nothing to revert.
        assert_eq!(m.idle_revert(step(10_000)), None);
    }

    /// BAUD is executed every time, even sent again with the same seq and CRC, and neither
    /// keeps its reply in the cache nor clears what is there (spec §10.1).
    #[test]
    fn baud_is_never_answered_from_the_cache_and_leaves_it_alone() {
        let mut m = model();
        let now = Instant::now();
        let begin = frame(&Request::Begin, 5);
        let first = m.handle_frame_at(&begin, now);
        assert!(first.ok);
        let baud = frame(&Request::Baud { rate: 460_800 }, 6);
        for _ in 0..2 {
            let h = m.handle_frame_at(&baud, now);
            assert!(!h.replayed, "BAUD answered from the cache");
            assert_eq!(h.switch_to, Some(460_800), "BAUD not executed again");
        }
        // Back to 115200 at once, then the same BAUD frame again: executed, not replayed.
        m.handle_frame_at(&frame(&Request::Baud { rate: 115_200 }, 7), now);
        assert_eq!(m.baud_rate(), spec::BAUD_RATE);
        assert_eq!(m.handle_frame_at(&baud, now).switch_to, Some(460_800));
        // The BEGIN's cached reply is still there for its retransmission, and the session too.
        let again = m.handle_frame_at(&begin, now);
        assert!(again.replayed, "BAUD cleared the cache");
        assert_eq!(again.reply, first.reply);
        assert!(m.in_session(), "BAUD touched the session");
    }

    #[test]
    fn a_rate_the_unit_lacks_is_bad_value_and_changes_nothing() {
        let mut m = model().with_baud_rates(&[230_400]);
        let h = m.handle_frame(&frame(&Request::Baud { rate: 921_600 }, 2));
        assert_eq!(words(&h)[..3], ["ERR", "BAUD", "BAD_VALUE"]);
        assert_eq!((h.ok, h.switch_to, m.baud_rate()), (false, None, 115_200));
        let h = m.handle_frame(&frame(&Request::Baud { rate: 230_400 }, 3));
        assert_eq!(words(&h), ["OK", "BAUD", "230400"]);
        assert_eq!(m.baud_rate(), 230_400);
    }

    #[test]
    fn a_protocol_1_0_unit_does_not_know_baud() {
        let mut m = model().with_baud_rates(&[]);
        let h = m.handle_frame(&frame(&Request::Baud { rate: 115_200 }, 2));
        assert_eq!(words(&h)[..3], ["ERR", "BAUD", "UNKNOWN_COMMAND"]);
        assert!(!m.capabilities().iter().any(|c| c == spec::CAP_BAUD));
    }
}
