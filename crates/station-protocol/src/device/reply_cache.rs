//! The reply cache that makes retransmissions idempotent (spec §6.3): the last mutating
//! request's seq and CRC with the reply it got. A retransmission (same seq, same CRC) gets the
//! same bytes back and changes nothing. HELLO starts a new conversation and clears it; HELLO and
//! BUSY replies are never kept, so asking again after BUSY is acted on.

use crate::codec::Frame;
use crate::command::Command;
use crate::error_code::DeviceErrorCode;

/// The last mutating request and its reply.
#[derive(Debug, Clone)]
struct CachedReply {
    seq: u8,
    crc: u16,
    reply: Vec<u8>,
}

/// At most one cached reply.
#[derive(Debug, Clone, Default)]
pub(super) struct ReplyCache {
    last: Option<CachedReply>,
}

impl ReplyCache {
    /// Before acting on a parsed `command`: the cached reply if `frame` retransmits the last
    /// request. HELLO is never answered from the cache and empties it: a new station process
    /// may reuse sequence numbers, so the cache of the previous one must not answer it.
    pub(super) fn replay(&mut self, frame: &Frame, command: Command) -> Option<Vec<u8>> {
        if command == Command::Hello {
            self.last = None;
            return None;
        }
        self.last
            .as_ref()
            .filter(|c| c.seq == frame.seq && c.crc == frame.crc)
            .map(|c| c.reply.clone())
    }

    /// After answering `command` with `reply` (refused with `refusal`, if it was): keep it for
    /// a retransmission, unless it answers HELLO or says BUSY ("nothing done, ask again").
    pub(super) fn keep(
        &mut self,
        frame: &Frame,
        command: Command,
        refusal: Option<DeviceErrorCode>,
        reply: &[u8],
    ) {
        if command == Command::Hello || refusal == Some(DeviceErrorCode::Busy) {
            return;
        }
        self.last = Some(CachedReply {
            seq: frame.seq,
            crc: frame.crc,
            reply: reply.to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameDecoder;

    fn frame(seq: u8, words: &[&str]) -> Frame {
        FrameDecoder::new().push_slice(&Frame::encode(seq, words))[0].clone()
    }

    #[test]
    fn only_the_same_seq_and_crc_is_replayed() {
        let mut cache = ReplyCache::default();
        let begin = frame(3, &["BEGIN"]);
        cache.keep(&begin, Command::Begin, None, b"ok");
        assert_eq!(cache.replay(&begin, Command::Begin), Some(b"ok".to_vec()));
        let other_seq = frame(4, &["BEGIN"]);
        assert_eq!(cache.replay(&other_seq, Command::Begin), None);
        let other_crc = frame(3, &["ABORT"]);
        assert_eq!(cache.replay(&other_crc, Command::Abort), None);
    }

    #[test]
    fn busy_and_hello_replies_are_never_kept_and_hello_empties_the_cache() {
        let mut cache = ReplyCache::default();
        let begin = frame(3, &["BEGIN"]);
        cache.keep(&begin, Command::Begin, Some(DeviceErrorCode::Busy), b"busy");
        assert_eq!(cache.replay(&begin, Command::Begin), None, "BUSY kept");
        cache.keep(
            &begin,
            Command::Begin,
            Some(DeviceErrorCode::NoSession),
            b"no",
        );
        let hello = frame(3, &["HELLO", "1"]);
        cache.keep(&hello, Command::Hello, None, b"hello");
        assert_eq!(cache.replay(&begin, Command::Begin), Some(b"no".to_vec()));
        assert_eq!(cache.replay(&hello, Command::Hello), None);
        assert_eq!(cache.replay(&begin, Command::Begin), None, "HELLO kept it");
    }
}
