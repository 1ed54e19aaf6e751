//! A JSON scanner over one request's bytes, with just what the OTLP decoder needs: objects
//! walked field by field (names matched by the caller, values read by type or skipped),
//! arrays element by element, strings borrowed from the input unless they hold escapes, and
//! the proto3 JSON readers (64-bit integers as numbers or decimal strings, enums as numbers
//! or names, doubles as numbers or `"NaN"` / `"Infinity"` / `"-Infinity"`).
//!
//! Errors carry the byte offset, and collect the path (`resourceSpans[0].scopeSpans[1]...`)
//! as they unwind: nothing is formatted unless something fails.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};
use std::str::FromStr;

/// How deeply objects and arrays may nest (serde_json's limit too): a bound on recursion,
/// so hostile input cannot overflow the stack.
const MAX_DEPTH: u32 = 128;

/// One step of an error's path.
pub(super) enum Step {
    Field(&'static str),
    Index(usize),
}

/// A decoding error: JSON that is malformed or of the wrong shape (with the path to where,
/// built as the error unwinds), or a value that is well-formed but invalid (whose message
/// already names its place).
pub(super) enum ScanError {
    Syntax { steps: Vec<Step>, message: String },
    Invalid(String),
}

impl ScanError {
    /// The message for users: `resourceSpans[0].spans[2].traceId: ...`.
    pub(super) fn into_message(self) -> String {
        match self {
            ScanError::Invalid(message) => message,
            ScanError::Syntax { steps, message } => {
                if steps.is_empty() {
                    return format!("not an OTLP JSON request: {message}");
                }
                let mut path = String::new();
                for step in steps.iter().rev() {
                    // Writing to a String cannot fail.
                    let _ = match step {
                        Step::Field(name) if path.is_empty() => write!(path, "{name}"),
                        Step::Field(name) => write!(path, ".{name}"),
                        Step::Index(i) => write!(path, "[{i}]"),
                    };
                }
                format!("{path}: {message}")
            }
        }
    }
}

pub(super) type ScanResult<T> = Result<T, ScanError>;

/// Names where an error happened, as it unwinds: the field, or the array index, it was in.
pub(super) trait At<T> {
    fn field(self, name: &'static str) -> ScanResult<T>;
    fn index(self, i: usize) -> ScanResult<T>;
}

impl<T> At<T> for ScanResult<T> {
    fn field(self, name: &'static str) -> ScanResult<T> {
        self.map_err(|e| e.push(Step::Field(name)))
    }
    fn index(self, i: usize) -> ScanResult<T> {
        self.map_err(|e| e.push(Step::Index(i)))
    }
}

impl ScanError {
    fn push(mut self, step: Step) -> Self {
        if let ScanError::Syntax { steps, .. } = &mut self {
            steps.push(step);
        }
        self
    }
}

pub(super) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

/// The state of an object being walked: see [`Scanner::next_field`].
pub(super) struct Object {
    first: bool,
}

/// The state of an array being walked: see [`Scanner::next_element`].
pub(super) struct Array {
    next: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Scanner {
            bytes,
            pos: 0,
            depth: 0,
        }
    }

    /// An error at the current position.
    pub(super) fn error(&self, what: impl Display) -> ScanError {
        ScanError::Syntax {
            steps: Vec::new(),
            message: format!("{what} (at byte {})", self.pos),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.pos).copied()
    }

    fn found(&mut self) -> String {
        match self.peek() {
            None => "the end of the input".into(),
            Some(b'{') => "an object".into(),
            Some(b'[') => "an array".into(),
            Some(b'"') => "a string".into(),
            Some(b't' | b'f') => "a boolean".into(),
            Some(b'n') => "null".into(),
            Some(b'-' | b'0'..=b'9') => "a number".into(),
            Some(c) => format!("{:?}", char::from(c)),
        }
    }

    fn expected(&mut self, what: &str) -> ScanError {
        let found = self.found();
        self.error(format_args!("expected {what}, found {found}"))
    }

    /// Consumes `literal` if the input continues with it.
    fn eat_literal(&mut self, literal: &[u8]) -> bool {
        self.skip_whitespace();
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if rest.starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> ScanResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format_args!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    /// After the whole request: only whitespace may follow.
    pub(super) fn finish(&mut self) -> ScanResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters after the request object")),
        }
    }

    /// Starts walking an object: `{`.
    pub(super) fn object(&mut self) -> ScanResult<Object> {
        if self.peek() != Some(b'{') {
            return Err(self.expected("an object"));
        }
        self.enter()?;
        self.pos += 1;
        Ok(Object { first: true })
    }

    /// The next field's name, with the scanner before its value; `None` after the closing
    /// `}`. A field whose value is `null` is skipped: proto3 JSON reads `null` as the
    /// field's default, which is what an absent field decodes to.
    pub(super) fn next_field(&mut self, object: &mut Object) -> ScanResult<Option<Cow<'a, str>>> {
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(None);
                }
                Some(b',') if !object.first => self.pos += 1,
                _ if object.first => {}
                _ => return Err(self.expected("',' or '}'")),
            }
            object.first = false;
            if self.peek() != Some(b'"') {
                return Err(self.expected("a field name"));
            }
            let name = self.string()?;
            if self.peek() != Some(b':') {
                return Err(self.expected("':'"));
            }
            self.pos += 1;
            if !self.eat_literal(b"null") {
                return Ok(Some(name));
            }
        }
    }

    /// Starts walking an array: `[`.
    pub(super) fn array(&mut self) -> ScanResult<Array> {
        if self.peek() != Some(b'[') {
            return Err(self.expected("an array"));
        }
        self.enter()?;
        self.pos += 1;
        Ok(Array { next: 0 })
    }

    /// The next element's index, with the scanner before it; `None` after the closing `]`.
    pub(super) fn next_element(&mut self, array: &mut Array) -> ScanResult<Option<usize>> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                return Ok(None);
            }
            Some(b',') if array.next > 0 => self.pos += 1,
            _ if array.next == 0 => {}
            _ => return Err(self.expected("',' or ']'")),
        }
        let i = array.next;
        array.next += 1;
        Ok(Some(i))
    }

    /// A string, borrowed from the input unless it has escapes to resolve.
    pub(super) fn string(&mut self) -> ScanResult<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(self.expected("a string"));
        }
        self.pos += 1;
        let start = self.pos;
        let bytes = self.bytes;
        // The common case: no escapes, so the text is a slice of the input.
        loop {
            match bytes.get(self.pos) {
                Some(b'"') => {
                    let raw = bytes.get(start..self.pos).unwrap_or_default();
                    self.pos += 1;
                    return match std::str::from_utf8(raw) {
                        Ok(text) => Ok(Cow::Borrowed(text)),
                        Err(e) => Err(self.invalid_utf8(start, e)),
                    };
                }
                Some(b'\\') => break,
                Some(0..=0x1f) => return Err(self.error("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.error("unterminated string")),
            }
        }
        let mut text = bytes.get(start..self.pos).unwrap_or_default().to_vec();
        loop {
            match bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return match String::from_utf8(text) {
                        Ok(text) => Ok(Cow::Owned(text)),
                        Err(e) => Err(self.invalid_utf8(start, e.utf8_error())),
                    };
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut text)?;
                }
                Some(0..=0x1f) => return Err(self.error("control character in a string")),
                Some(&c) => {
                    text.push(c);
                    self.pos += 1;
                }
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn invalid_utf8(&mut self, start: usize, e: std::str::Utf8Error) -> ScanError {
        self.pos = start + e.valid_up_to();
        self.error("invalid UTF-8 in a string")
    }

    /// One escape sequence after its `\`, appended to `text` as UTF-8.
    fn escape(&mut self, text: &mut Vec<u8>) -> ScanResult<()> {
        let c = match self.bytes.get(self.pos) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if !self.eat_literal(b"\\u") {
                            return Err(self.error("lone leading surrogate in a \\u escape"));
                        }
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("invalid trailing surrogate in a \\u escape"));
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error("lone trailing surrogate in a \\u escape"))
                    }
                    _ => unit,
                };
                let Some(ch) = char::from_u32(code) else {
                    return Err(self.error("invalid \\u escape"));
                };
                text.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape in a string")),
        };
        text.push(c);
        self.pos += 1;
        Ok(())
    }

    fn hex4(&mut self) -> ScanResult<u32> {
        let mut unit = 0u32;
        for _ in 0..4 {
            let digit = self
                .bytes
                .get(self.pos)
                .and_then(|c| char::from(*c).to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            unit = unit << 4 | digit;
            self.pos += 1;
        }
        Ok(unit)
    }

    /// A JSON number's text, checked against the JSON grammar.
    fn number_text(&mut self) -> ScanResult<&'a str> {
        self.skip_whitespace();
        let bytes = self.bytes;
        let start = self.pos;
        let digits = |s: &mut Self| {
            let from = s.pos;
            while let Some(b'0'..=b'9') = bytes.get(s.pos) {
                s.pos += 1;
            }
            s.pos > from
        };
        if bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let leading_zero = bytes.get(self.pos) == Some(&b'0');
        let int_start = self.pos;
        if !digits(self) {
            return Err(self.expected("a number"));
        }
        if leading_zero && self.pos - int_start > 1 {
            return Err(self.error("a number with a leading zero"));
        }
        if bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.error("a number without digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = bytes.get(self.pos) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error("a number without digits in its exponent"));
            }
        }
        // The scanned bytes are ASCII digits and signs, so valid UTF-8.
        std::str::from_utf8(bytes.get(start..self.pos).unwrap_or_default())
            .map_err(|_| self.error("invalid number"))
    }

    /// An integer, as a JSON number or a decimal string (proto3 JSON writes 64-bit integers
    /// as strings, and accepts numbers).
    pub(super) fn integer<T>(&mut self, what: &str) -> ScanResult<T>
    where
        T: FromStr + TryFrom<i128>,
    {
        if self.peek() == Some(b'"') {
            let start = self.pos;
            let text = self.string()?;
            return text.parse::<T>().map_err(|_| {
                self.pos = start;
                self.error(format_args!("{text:?} is not {what}"))
            });
        }
        let start = self.pos;
        let text = self.number_text()?;
        let wide = text.parse::<i128>().map_err(|_| {
            self.pos = start;
            self.error(format_args!("{text} is not {what}"))
        })?;
        T::try_from(wide).map_err(|_| {
            self.pos = start;
            self.error(format_args!("{text} is out of range for {what}"))
        })
    }

    /// A double: a JSON number, or a string holding one or `NaN` / `Infinity` / `-Infinity`.
    pub(super) fn double(&mut self) -> ScanResult<f64> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            let text = self.string()?;
            return match &*text {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => text.parse().map_err(|_| {
                    self.pos = start;
                    self.error(format_args!("{text:?} is not a number"))
                }),
            };
        }
        let text = self.number_text()?;
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                self.pos = start;
                Err(self.error(format_args!("{text} is out of range for a double")))
            }
        }
    }

    /// An enum as its number or its proto name; a number or name not in `names` is
    /// `out_of_range` (which the decoder refuses or counts).
    pub(super) fn enumeration(
        &mut self,
        names: &[&str],
        what: &str,
        out_of_range: u8,
    ) -> ScanResult<u8> {
        let index = if self.peek() == Some(b'"') {
            let text = self.string()?;
            names.iter().position(|n| **n == *text)
        } else {
            let start = self.pos;
            let text = self.number_text()?;
            let number = text.parse::<i128>().map_err(|_| {
                self.pos = start;
                self.error(format_args!("{text} is not a {what} number or name"))
            })?;
            usize::try_from(number).ok().filter(|n| *n < names.len())
        };
        Ok(index
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(out_of_range))
    }

    pub(super) fn boolean(&mut self) -> ScanResult<bool> {
        if self.eat_literal(b"true") {
            Ok(true)
        } else if self.eat_literal(b"false") {
            Ok(false)
        } else {
            Err(self.expected("a boolean"))
        }
    }

    /// Skips any value (an unknown field's), checking that it is well-formed JSON.
    pub(super) fn skip_value(&mut self) -> ScanResult<()> {
        match self.peek() {
            Some(b'{') => {
                let mut object = self.object()?;
                while self.next_field(&mut object)?.is_some() {
                    self.skip_value()?;
                }
            }
            Some(b'[') => {
                let mut array = self.array()?;
                while self.next_element(&mut array)?.is_some() {
                    self.skip_value()?;
                }
            }
            Some(b'"') => {
                self.string()?;
            }
            Some(b't' | b'f') => {
                self.boolean()?;
            }
            Some(b'n') if self.eat_literal(b"null") => {}
            _ => {
                self.number_text()?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Invalid(m) => f.write_str(m),
            ScanError::Syntax { message, .. } => f.write_str(message),
        }
    }
}
