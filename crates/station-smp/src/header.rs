//! The 8-byte SMP header: what each byte means, and encoding it to and from bytes.
//!
//! This module owns [`Header`] and [`Op`] (`struct smp_hdr` in Zephyr's `smp.h`). Byte 0 holds
//! the op in bits 0..2 and the SMP version in bits 3..4; length and group are big-endian.

use crate::spec::HEADER_LEN;

/// The operation of a packet (`enum mcumgr_op_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Read request.
    Read = 0,
    /// Answer to a read.
    ReadRsp = 1,
    /// Write request.
    Write = 2,
    /// Answer to a write.
    WriteRsp = 3,
}

impl Op {
    fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Op::Read),
            1 => Some(Op::ReadRsp),
            2 => Some(Op::Write),
            3 => Some(Op::WriteRsp),
            _ => None,
        }
    }

    /// The op of the answer to a request with this op (`None` for answers).
    pub fn response(self) -> Option<Op> {
        match self {
            Op::Read => Some(Op::ReadRsp),
            Op::Write => Some(Op::WriteRsp),
            Op::ReadRsp | Op::WriteRsp => None,
        }
    }
}

/// An SMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Operation.
    pub op: Op,
    /// SMP version (0 = original, 1 = version 2).
    pub version: u8,
    /// Flags (unused by Zephyr; sent as 0).
    pub flags: u8,
    /// Length of the CBOR payload that follows.
    pub len: u16,
    /// Management group id.
    pub group: u16,
    /// Sequence number, echoed by the answer.
    pub seq: u8,
    /// Command id within the group.
    pub id: u8,
}

impl Header {
    /// The header as it goes on the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let [len_hi, len_lo] = self.len.to_be_bytes();
        let [group_hi, group_lo] = self.group.to_be_bytes();
        [
            (self.op as u8) | ((self.version & 0b11) << 3),
            self.flags,
            len_hi,
            len_lo,
            group_hi,
            group_lo,
            self.seq,
            self.id,
        ]
    }

    /// Reads a header from the start of `bytes`; `None` if too short or the op is unknown.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            op: Op::from_bits(b[0] & 0b111)?,
            version: (b[0] >> 3) & 0b11,
            flags: b[1],
            len: u16::from_be_bytes([b[2], b[3]]),
            group: u16::from_be_bytes([b[4], b[5]]),
            seq: b[6],
            id: b[7],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_match_zephyr_layout() {
        let h = Header {
            op: Op::Write,
            version: 1,
            flags: 0,
            len: 0x0102,
            group: 3,
            seq: 0x2a,
            id: 0,
        };
        // op 2 in bits 0..2, version 1 in bits 3..4: 0b0000_1010.
        assert_eq!(h.encode(), [0x0a, 0, 0x01, 0x02, 0, 3, 0x2a, 0]);
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(Header::decode(&[0x07, 0, 0, 0, 0, 0, 0, 0]), None, "op 7");
        assert_eq!(Header::decode(&[0; 7]), None, "short");
    }
}
