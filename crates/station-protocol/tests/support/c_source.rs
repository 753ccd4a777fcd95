//! Reading constants out of the firmware's C source, for the tests that hold it to the Rust tables.
//!
//! This module owns a deliberately small C reader: comments stripped, object-like `#define`s and
//! `enum` members collected with the line they sit on, and their values evaluated (integer and
//! character literals with `u`/`L` suffixes, string literals, `+ - * /`, parentheses and other
//! constants by name). Anything it cannot evaluate is an error naming the constant and its line,
//! so a header written in a way the reader does not know fails loudly instead of being skipped.

use std::collections::BTreeMap;
use std::fmt;

/// A constant's value as C would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CValue {
    /// An integer constant expression (character literals included).
    Int(i64),
    /// A string literal.
    Str(String),
}

impl fmt::Display for CValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CValue::Int(n) => write!(f, "{n}"),
            CValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// One named constant: where it is, and its text before evaluation.
#[derive(Debug, Clone)]
pub struct CConst {
    /// `file:line` of the definition.
    pub place: String,
    /// The replacement text of a `#define`, or the value of an enum member.
    pub text: String,
}

/// The constants of one or more C files, in definition order per name.
#[derive(Debug, Default)]
pub struct CConstants {
    /// Every constant by name.
    pub consts: BTreeMap<String, CConst>,
    /// Names in the order they were found, per file: `(file, name)`.
    pub order: Vec<(String, String)>,
}

/// Replaces every comment by spaces, keeping line breaks so line numbers stay right.
pub fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        let c = b[i] as char;
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
        } else if src[i..].starts_with("/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            out.extend(
                src[i..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
            i = end;
        } else if src[i..].starts_with("//") {
            let end = src[i..].find('\n').map_or(b.len(), |e| i + e);
            i = end;
        } else if c == '\'' {
            // A character literal: '"' must not start a string.
            let mut end = i + 1;
            while end < b.len() && b[end] != b'\'' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(b.len());
            out.push_str(&src[i..end]);
            i = end;
        } else {
            in_string = c == '"';
            out.push(c);
            i += 1;
        }
    }
    out
}

impl CConstants {
    /// Collects the object-like `#define`s and the enum members of `src`, named `file` in messages.
    /// Include guards (a `#define` with no value) and function-like macros are left out.
    pub fn read(&mut self, file: &str, src: &str) {
        let clean = strip_comments(src);
        let lines: Vec<&str> = clean.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let Some(rest) = t.strip_prefix("#define") else {
                continue;
            };
            let rest = rest.trim_start();
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let (name, text) = rest.split_at(name_len);
            if text.starts_with('(') || text.trim().is_empty() {
                continue;
            }
            self.add(file, n + 1, name, text.trim());
        }
        self.read_enums(file, &clean);
    }

    fn read_enums(&mut self, file: &str, clean: &str) {
        let mut from = 0;
        while let Some(at) = clean[from..].find("enum ") {
            let start = from + at + "enum ".len();
            // `enum tag {` defines members; `enum tag name` only uses the type.
            let tag_end = clean[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(clean.len(), |e| start + e);
            let open = tag_end + (clean[tag_end..].len() - clean[tag_end..].trim_start().len());
            if !clean[open..].starts_with('{') {
                from = start;
                continue;
            }
            let Some(close) = clean[open..].find('}').map(|c| open + c) else {
                break;
            };
            let mut next = 0i64;
            let mut offset = open + 1;
            for member in clean[open + 1..close].split(',') {
                let line = clean[..offset].matches('\n').count() + 1;
                offset += member.len() + 1;
                let member = member.trim();
                if member.is_empty() {
                    continue;
                }
                let (name, text) = match member.split_once('=') {
                    Some((n, v)) => (n.trim(), v.trim().to_owned()),
                    None => (member, next.to_string()),
                };
                self.add(file, line, name, &text);
                next = self.int(name).map_or(next, |v| v + 1);
            }
            from = close;
        }
    }

    fn add(&mut self, file: &str, line: usize, name: &str, text: &str) {
        self.order.push((file.to_owned(), name.to_owned()));
        self.consts.insert(
            name.to_owned(),
            CConst {
                place: format!("{file}:{line}"),
                text: text.to_owned(),
            },
        );
    }

    /// The value of the constant `name`.
    pub fn value(&self, name: &str) -> Result<CValue, String> {
        let c = self
            .consts
            .get(name)
            .ok_or_else(|| format!("no constant named {name}"))?;
        let mut p = Parser {
            consts: self,
            text: c.text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let v = p
            .expr()
            .and_then(|v| p.end().map(|()| v))
            .map_err(|e| format!("{name} at {}: cannot evaluate `{}`: {e}", c.place, c.text))?;
        Ok(v)
    }

    /// The value of `name` as an integer.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        match self.value(name)? {
            CValue::Int(n) => Ok(n),
            CValue::Str(s) => Err(format!("{name} is the string {s:?}, not a number")),
        }
    }

    /// Evaluates a C expression written in terms of these constants.
    pub fn eval(&self, text: &str) -> Result<CValue, String> {
        let mut p = Parser {
            consts: self,
            text: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let v = p.expr()?;
        p.end()?;
        Ok(v)
    }

    /// Where `name` is defined, for messages.
    pub fn place(&self, name: &str) -> String {
        self.consts
            .get(name)
            .map_or_else(|| "nowhere".to_owned(), |c| c.place.clone())
    }
}

/// Recursive descent over one constant's text.
struct Parser<'a> {
    consts: &'a CConstants,
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.pos).copied()
    }

    fn end(&mut self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(c) => Err(format!("unexpected `{}`", c as char)),
        }
    }

    fn expr(&mut self) -> Result<CValue, String> {
        let mut left = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let right = self.term()?;
            left = arith(op, left, right)?;
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<CValue, String> {
        let mut left = self.atom()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.pos += 1;
            let right = self.atom()?;
            left = arith(op, left, right)?;
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<CValue, String> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("missing `)`".to_owned());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(b'"') => self.string(),
            Some(b'\'') => self.char_literal(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.name(),
            Some(c) => Err(format!("unexpected `{}`", c as char)),
            None => Err("unexpected end".to_owned()),
        }
    }

    fn string(&mut self) -> Result<CValue, String> {
        self.pos += 1;
        let mut s = String::new();
        while let Some(&c) = self.text.get(self.pos) {
            self.pos += 1;
            match c {
                b'"' => return Ok(CValue::Str(s)),
                b'\\' => return Err("escapes in string constants are not read".to_owned()),
                _ => s.push(c as char),
            }
        }
        Err("unterminated string".to_owned())
    }

    fn char_literal(&mut self) -> Result<CValue, String> {
        match self.text.get(self.pos..self.pos + 3) {
            Some([b'\'', c, b'\'']) if *c != b'\\' => {
                self.pos += 3;
                Ok(CValue::Int(i64::from(*c)))
            }
            _ => Err("only plain one-character literals are read".to_owned()),
        }
    }

    fn number(&mut self) -> Result<CValue, String> {
        let start = self.pos;
        while self
            .text
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            self.pos += 1;
        }
        let word = std::str::from_utf8(&self.text[start..self.pos]).map_err(|e| e.to_string())?;
        let digits = word.trim_end_matches(['u', 'U', 'l', 'L']);
        let parsed = match digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            Some(hex) => i64::from_str_radix(hex, 16),
            None => digits.parse(),
        };
        parsed
            .map(CValue::Int)
            .map_err(|e| format!("bad number `{word}`: {e}"))
    }

    fn name(&mut self) -> Result<CValue, String> {
        let start = self.pos;
        while self
            .text
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.pos += 1;
        }
        let name = std::str::from_utf8(&self.text[start..self.pos]).map_err(|e| e.to_string())?;
        if self.depth > 16 {
            return Err(format!("{name} refers to itself"));
        }
        let c = self
            .consts
            .consts
            .get(name)
            .ok_or_else(|| format!("{name} is not a constant of the files read"))?;
        let mut inner = Parser {
            consts: self.consts,
            text: c.text.as_bytes(),
            pos: 0,
            depth: self.depth + 1,
        };
        let v = inner.expr()?;
        inner.end()?;
        Ok(v)
    }
}

fn arith(op: u8, left: CValue, right: CValue) -> Result<CValue, String> {
    let (CValue::Int(a), CValue::Int(b)) = (&left, &right) else {
        return Err(format!("`{}` on a string", op as char));
    };
    let v = match op {
        b'+' => a.checked_add(*b),
        b'-' => a.checked_sub(*b),
        b'*' => a.checked_mul(*b),
        _ => a.checked_div(*b),
    };
    v.map(CValue::Int)
        .ok_or_else(|| format!("{a} {} {b} overflows", op as char))
}

/// The rows of a brace-initialised C array `name` in `src` (comments stripped): the text of each
/// top-level element, `{...}` rows with their braces removed, plus the line the array starts on.
pub fn array_rows(src: &str, name: &str) -> Result<(usize, Vec<String>), String> {
    let clean = strip_comments(src);
    let decl = clean
        .find(&format!(" {name}["))
        .ok_or_else(|| format!("no array named {name}"))?;
    let line = clean[..decl].matches('\n').count() + 1;
    let open = clean[decl..]
        .find('{')
        .map(|o| decl + o)
        .ok_or_else(|| format!("{name} has no initialiser"))?;
    let mut rows = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in clean[open + 1..].chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                rows.push(current.trim().to_owned());
                return Ok((line, rows.into_iter().filter(|r| !r.is_empty()).collect()));
            }
            '}' => depth -= 1,
            ',' if depth == 0 => rows.push(std::mem::take(&mut current).trim().to_owned()),
            _ => current.push(c),
        }
    }
    Err(format!("{name}'s initialiser is not closed"))
}
