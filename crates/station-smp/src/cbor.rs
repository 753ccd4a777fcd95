//! The CBOR maps SMP carries: building requests and reading answers with `ciborium::Value`.
//!
//! This module owns the payload side of a packet: a map with text keys, and the three shapes
//! an answer can take (the command's own map, `{"rc": n}` with SMP's management code, or the
//! SMP version 2 group error `{"err": {"group": g, "rc": n}}`), told apart in [`Answer`].

use ciborium::Value;

/// A CBOR map as ciborium holds it.
pub type Map = Vec<(Value, Value)>;

/// Encodes a map with text keys.
pub fn encode_map(entries: Vec<(&str, Value)>) -> Vec<u8> {
    let map = Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_owned()), v))
            .collect(),
    );
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; an empty payload would only be refused by the peer.
    let _ = ciborium::into_writer(&map, &mut out);
    out
}

/// Decodes a payload that must be a map (an empty payload is an empty map).
pub fn decode_map(bytes: &[u8]) -> Option<Map> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    match ciborium::from_reader::<Value, _>(bytes).ok()? {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

/// The value under text key `key`.
pub fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// An unsigned integer under `key`.
pub fn get_u32(map: &Map, key: &str) -> Option<u32> {
    get(map, key)?
        .as_integer()
        .and_then(|i| u32::try_from(i).ok())
}

/// What an answer says.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Success: the command's own fields (`rc` 0 or absent).
    Ok(Map),
    /// `{"rc": n}`, n != 0: a management-level error.
    Rc(u32),
    /// `{"err": {"group": g, "rc": n}}`: an error of group `g` (SMP version 2).
    Group {
        /// Group that answered.
        group: u16,
        /// The group's own code.
        rc: u32,
    },
}

impl Answer {
    /// Reads an answer payload; `None` if it is not a map of the right shape.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let map = decode_map(bytes)?;
        if let Some(err) = get(&map, "err") {
            let Value::Map(err) = err else { return None };
            let group = u16::try_from(get_u32(err, "group")?).ok()?;
            let rc = get_u32(err, "rc")?;
            if rc != 0 {
                return Some(Answer::Group { group, rc });
            }
        }
        match get(&map, "rc") {
            Some(v) => match v.as_integer().and_then(|i| u32::try_from(i).ok())? {
                0 => Some(Answer::Ok(map)),
                rc => Some(Answer::Rc(rc)),
            },
            None => Some(Answer::Ok(map)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_each_shape_are_told_apart() {
        let ok = encode_map(vec![("val", Value::Bytes(b"v".to_vec()))]);
        assert!(matches!(Answer::parse(&ok), Some(Answer::Ok(m)) if get(&m, "val").is_some()));
        let rc = encode_map(vec![("rc", Value::from(11))]);
        assert_eq!(Answer::parse(&rc), Some(Answer::Rc(11)));
        let err = encode_map(vec![(
            "err",
            Value::Map(vec![
                (Value::from("group"), Value::from(3)),
                (Value::from("rc"), Value::from(3)),
            ]),
        )]);
        assert_eq!(Answer::parse(&err), Some(Answer::Group { group: 3, rc: 3 }));
        assert_eq!(Answer::parse(&[]), Some(Answer::Ok(Vec::new())));
        assert_eq!(Answer::parse(&[0x01]), None, "an integer is not a map");
    }
}
