//! Version 1.1's faster wire on the station side (spec §10.1): [`Client::fast_wire`] moves the
//! link from 115200 to the fastest rate both the serial adapter and the unit accept, and falls
//! back to 115200 cleanly when the unit cannot be reached there.
//!
//! A failed switch costs about a second, never the unit: BAUD is sent once and never touches the
//! session; when the unit does not answer at the new rate the station returns to 115200, waits
//! until the unit's own idle revert ([`spec::BAUD_IDLE_REVERT`]) must have happened, and says
//! HELLO again. Only a unit that answers at neither rate is an error, and then the write would
//! have failed anyway. Once switched, any request left unanswered takes the link back to
//! 115200 the same way ([`Client::follow_idle_revert`]), so a lost reply costs a retransmission
//! at 115200, never the job.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::client::{Client, Identity};
use crate::error::ProtocolError;
use crate::error_code::DeviceErrorCode;
use crate::message::{HelloInfo, Reply, Request};
use crate::spec;
use crate::transport::Transport;

/// How [`Client::fast_wire`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaudSwitch {
    /// The unit does not list `BAUD`: a protocol 1.0 unit, the link stays at 115200.
    NotOffered,
    /// The unit answered at the new rate: the write runs there.
    Switched,
    /// No rate suited both the adapter and the unit; nothing changed, 115200.
    NoCommonRate,
    /// The unit took BAUD but could not be reached at the new rate (or its answer was lost):
    /// back at 115200 after its idle revert.
    FellBack,
}

/// The rate the link ended at, and what getting there cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRate {
    /// Line speed the link runs at now (the write's rate).
    pub baud: u32,
    /// How the switch went.
    pub switch: BaudSwitch,
    /// Time spent switching (or falling back).
    pub cost: Duration,
}

/// What one BAUD request came to.
enum Asked {
    /// `OK BAUD <rate>`: switch our side.
    Accepted,
    /// `BAD_VALUE`: the unit cannot run it; try the next.
    Lacks,
    /// Refused otherwise: nothing changed, stop asking.
    Refused,
    /// No (understandable) answer: the unit may have switched.
    Unknown,
}

impl<T: Transport> Client<T> {
    /// After HELLO and before BEGIN: if the unit lists `BAUD`, switch the link to the fastest
    /// of [`spec::FAST_BAUD_RATES`] that the adapter and the unit both accept, confirmed by a
    /// HELLO with the same hardware id at the new rate; otherwise stay at (or return to) 115200
    /// (spec §10.1). The rate and the cost are also in [`Client::stats`]. An error means the
    /// unit answers at neither rate (unplugged, or gone silent).
    pub fn fast_wire(&mut self, identity: &Identity) -> Result<LinkRate, ProtocolError> {
        let started = Instant::now();
        let switch = if identity.has_capability(spec::CAP_BAUD) {
            self.try_fast_rates(&identity.hardware_id)?
        } else {
            BaudSwitch::NotOffered
        };
        let cost = started.elapsed();
        self.stats.baud_switch_ms = u64::try_from(cost.as_millis()).unwrap_or(u64::MAX);
        info!(
            baud = self.baud,
            ?switch,
            ms = self.stats.baud_switch_ms,
            "line speed"
        );
        Ok(LinkRate {
            baud: self.baud,
            switch,
            cost,
        })
    }

    fn try_fast_rates(&mut self, hardware_id: &str) -> Result<BaudSwitch, ProtocolError> {
        for rate in spec::FAST_BAUD_RATES {
            if !self.adapter_accepts(rate)? {
                continue;
            }
            match self.ask_baud(rate)? {
                Asked::Accepted => return self.confirm_switch(rate, hardware_id),
                Asked::Lacks => continue,
                Asked::Refused => return Ok(BaudSwitch::NoCommonRate),
                Asked::Unknown => return self.fall_back(),
            }
        }
        Ok(BaudSwitch::NoCommonRate)
    }

    /// Whether our side can run `rate`: set it, then return to the current rate. A port that
    /// cannot return is an error.
    fn adapter_accepts(&mut self, rate: u32) -> Result<bool, ProtocolError> {
        if let Err(e) = self.transport.set_baud_rate(rate) {
            debug!(rate, error = %e, "the adapter does not take this rate");
            return Ok(false);
        }
        self.transport.set_baud_rate(self.baud)?;
        Ok(true)
    }

    /// BAUD, sent once (spec §10.1).
    fn ask_baud(&mut self, rate: u32) -> Result<Asked, ProtocolError> {
        match self.transact_with(&Request::Baud { rate }, spec::BAUD_ATTEMPTS) {
            Ok(Reply::Baud { rate: got }) if got == rate => Ok(Asked::Accepted),
            Ok(_) => Ok(Asked::Unknown),
            Err(ProtocolError::Device {
                code: DeviceErrorCode::BadValue,
                ..
            }) => Ok(Asked::Lacks),
            Err(ProtocolError::Device { code, .. }) => {
                debug!(rate, %code, "BAUD refused");
                Ok(Asked::Refused)
            }
            Err(e @ ProtocolError::Disconnected { .. }) => Err(e),
            Err(e) => {
                warn!(rate, error = %e, "no OK BAUD");
                Ok(Asked::Unknown)
            }
        }
    }

    /// The unit said `OK BAUD rate`: follow it, and check it answers there.
    fn confirm_switch(
        &mut self,
        rate: u32,
        hardware_id: &str,
    ) -> Result<BaudSwitch, ProtocolError> {
        if let Err(e) = self.transport.set_baud_rate(rate) {
            warn!(rate, error = %e, "the adapter refused a rate it took a moment ago");
            return self.fall_back();
        }
        // `self.baud` follows only once the unit answered: until then a timeout must not take
        // `follow_idle_revert`'s path (the procedure's own fallback below does).
        std::thread::sleep(spec::BAUD_SETTLE);
        match self.hello_info(spec::HELLO_ATTEMPTS_AFTER_BAUD) {
            Ok(info) if info.hardware_id.eq_ignore_ascii_case(hardware_id) => {
                self.baud = rate;
                Ok(BaudSwitch::Switched)
            }
            Ok(_) => {
                warn!(rate, "another hardware id answered at the new rate");
                self.fall_back()
            }
            Err(e @ ProtocolError::Disconnected { .. }) => Err(e),
            Err(e) => {
                warn!(rate, error = %e, "no answer at the new rate; falling back to 115200");
                self.fall_back()
            }
        }
    }

    /// Back to 115200: wait until the unit's idle revert has passed since its last reply, then
    /// HELLO there (with HELLO's usual patience, which also covers a unit whose timer a frame
    /// we could not hear restarted).
    fn fall_back(&mut self) -> Result<BaudSwitch, ProtocolError> {
        self.transport.set_baud_rate(spec::BAUD_RATE)?;
        self.baud = spec::BAUD_RATE;
        if let Some(last) = self.last_reply {
            let reverted = last + spec::BAUD_IDLE_REVERT + spec::BAUD_REVERT_MARGIN;
            let now = Instant::now();
            if reverted > now {
                std::thread::sleep(reverted - now);
            }
        }
        self.hello_info(spec::HELLO_ATTEMPTS)?;
        Ok(BaudSwitch::FellBack)
    }

    /// A request sent at `sent_at` went unanswered while the link runs above 115200. Whatever
    /// was lost (our frame or the reply), the unit has heard nothing since, so once
    /// [`spec::BAUD_IDLE_REVERT`] has passed from `sent_at` it is back at 115200: wait for that,
    /// follow it, and let the caller retransmit there (the same frame, so the reply cache keeps
    /// the retransmission idempotent). Without this, a lost COMMIT reply (3 s timeout) would be
    /// retransmitted at a rate the unit had left two seconds before.
    pub(crate) fn follow_idle_revert(&mut self, sent_at: Instant) -> Result<(), ProtocolError> {
        if self.baud == spec::BAUD_RATE {
            return Ok(());
        }
        let reverted = sent_at + spec::BAUD_IDLE_REVERT + spec::BAUD_REVERT_MARGIN;
        let now = Instant::now();
        if reverted > now {
            std::thread::sleep(reverted - now);
        }
        warn!(
            from = self.baud,
            "no reply at the faster rate; continuing at 115200"
        );
        self.transport.set_baud_rate(spec::BAUD_RATE)?;
        self.baud = spec::BAUD_RATE;
        Ok(())
    }

    /// HELLO alone (no READ), giving up after `attempts` unanswered sends.
    fn hello_info(&mut self, attempts: u32) -> Result<HelloInfo, ProtocolError> {
        let request = Request::Hello {
            version: spec::PROTOCOL_VERSION,
        };
        match self.transact_with(&request, attempts)? {
            Reply::Hello(info) => Ok(info),
            _ => Err(ProtocolError::MalformedReply(
                crate::message::MalformedReply {
                    command: crate::command::Command::Hello,
                    reason: "reply of another command".to_owned(),
                },
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_vector_config;
    use crate::device::{DeviceModel, MemoryStorage, ModelTransport};

    fn client(rates: &[u32]) -> Client<ModelTransport<MemoryStorage>> {
        let model = DeviceModel::new(MemoryStorage::default(), "0102030405060708", "t-1")
            .expect("model")
            .with_baud_rates(rates);
        Client::new(ModelTransport::new(model))
    }

    #[test]
    fn switches_to_the_fastest_rate_and_writes_there() {
        let mut c = client(&spec::FAST_BAUD_RATES);
        let id = c.hello().expect("hello");
        let link = c.fast_wire(&id).expect("fast wire");
        assert_eq!((link.baud, link.switch), (921_600, BaudSwitch::Switched));
        let cfg = test_vector_config();
        c.write_config(&cfg, &id.hardware_id, &mut |_| {})
            .expect("write at the new rate");
        assert_eq!(c.stats().link_baud, 921_600);
        let t = c.into_inner();
        assert_eq!((t.baud_rate(), t.model.baud_rate()), (921_600, 921_600));
        assert_eq!(t.model.committed().map(|s| s.generation()), Some(1));
    }

    #[test]
    fn a_rate_the_unit_lacks_falls_to_the_next() {
        let mut c = client(&[460_800]);
        let id = c.hello().expect("hello");
        let link = c.fast_wire(&id).expect("fast wire");
        assert_eq!((link.baud, link.switch), (460_800, BaudSwitch::Switched));
        let mut c = client(&[2_000_000]);
        let id = c.hello().expect("hello");
        let link = c.fast_wire(&id).expect("fast wire");
        assert_eq!(
            (link.baud, link.switch),
            (115_200, BaudSwitch::NoCommonRate)
        );
    }

    #[test]
    fn a_protocol_1_0_unit_stays_at_115200_without_a_baud_request() {
        let mut c = client(&[]);
        let id = c.hello().expect("hello");
        let sent = c.stats().frames_sent;
        let link = c.fast_wire(&id).expect("fast wire");
        assert_eq!((link.baud, link.switch), (115_200, BaudSwitch::NotOffered));
        assert_eq!(c.stats().frames_sent, sent, "a 1.0 unit gets no BAUD");
        assert_eq!(c.stats().link_baud, 115_200);
    }

    /// An adapter that cannot run the fastest rate: the unit is asked for the next.
    struct SlowAdapter(ModelTransport<MemoryStorage>);

    impl Transport for SlowAdapter {
        fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.0.send(bytes)
        }
        fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> std::io::Result<usize> {
            self.0.recv(buf, timeout)
        }
        fn set_baud_rate(&mut self, rate: u32) -> Result<(), ProtocolError> {
            if rate > 460_800 {
                return Transport::set_baud_rate(&mut NoRate, rate);
            }
            self.0.set_baud_rate(rate)
        }
    }

    /// A link with no line speed: the trait's default refusal.
    struct NoRate;

    impl Transport for NoRate {
        fn send(&mut self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
        fn recv(&mut self, _: &mut [u8], _: Duration) -> std::io::Result<usize> {
            Ok(0)
        }
    }

    #[test]
    fn only_rates_the_adapter_accepts_are_asked_for() {
        let c = client(&spec::FAST_BAUD_RATES);
        let mut c = Client::new(SlowAdapter(c.into_inner()));
        let id = c.hello().expect("hello");
        let link = c.fast_wire(&id).expect("fast wire");
        assert_eq!((link.baud, link.switch), (460_800, BaudSwitch::Switched));
        let model_rate = c.into_inner().0.model.baud_rate();
        assert_eq!(model_rate, 460_800);
    }
}
