//! One line of `messages.jsonl`, parsed typed and borrowing in one pass.
//!
//! A push reads every line of an archive's messages (megabytes for a large session). Parsing
//! each into a `serde_json::Value` tree allocated a map, a `String` per key and per value and a
//! `Vec` per array, only to read a handful of fields. Here a line is parsed straight into the
//! fields the server reads — `role`, `is_sidechain`, `content` and, in content blocks, `type`,
//! `text`, `name`, `input.command` and a string `content` — with strings borrowed from the line
//! (owned only when they hold escapes); everything else is validated and skipped without being
//! built. The result is exactly what the `Value` reading gave: any valid JSON in any field is
//! accepted (a field of an unexpected type reads as absent), a repeated key keeps its last
//! value, and a line that is not valid JSON, or not an object, is not a message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// What the server reads from one message line.
#[derive(Debug, Default, PartialEq)]
pub struct Line<'a> {
    /// `role`, when it is a string.
    pub role: Option<Cow<'a, str>>,
    /// `is_sidechain`, by JSON truthiness (absent and `null` are false).
    pub sidechain: bool,
    pub content: Content<'a>,
}

/// A message's `content`.
#[derive(Debug, Default, PartialEq)]
pub enum Content<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
    /// An object; whether it has any key.
    Object {
        empty: bool,
    },
    /// A number or a boolean.
    Scalar,
}

/// One element of an array `content`; an element that is not an object has every field absent.
#[derive(Debug, Default, PartialEq)]
pub struct Block<'a> {
    /// `type`, when a string.
    pub kind: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    /// `input.command`, when `input` is an object whose `command` is a string.
    pub command: Option<Cow<'a, str>>,
    /// `content`, when a string (a tool result's output).
    pub content: Option<Cow<'a, str>>,
}

impl<'a> Line<'a> {
    /// The message on `bytes` (one line, its newline included or not); `None` when the line is
    /// not valid UTF-8, not valid JSON, or not a JSON object.
    pub fn parse(bytes: &'a [u8]) -> Option<Line<'a>> {
        let text = std::str::from_utf8(bytes).ok()?;
        serde_json::from_str::<Message<'a>>(text).ok()?.0
    }

    /// Shown in the messages view: not a sidechain, and some content (or a tool message).
    pub fn is_visible(&self) -> bool {
        if self.sidechain {
            return false;
        }
        let empty = match &self.content {
            Content::Absent => true,
            Content::Text(s) => s.is_empty(),
            Content::Blocks(b) => b.is_empty(),
            Content::Object { empty } => *empty,
            Content::Scalar => false,
        };
        !empty || self.role.as_deref() == Some("tool")
    }
}

/// The whole line: `Some` for an object, `None` for any other JSON value.
struct Message<'a>(Option<Line<'a>>);

/// A string, or `None` for any other JSON value (which is still read to its end).
struct MaybeStr<'a>(Option<Cow<'a, str>>);

/// JSON truthiness, as the reference reads flags: `null`, `false`, `0`, `""` are false.
struct Truthy(bool);

/// `input`: its `command` when it is an object.
struct Input<'a>(Option<Cow<'a, str>>);

/// Implements the scalar arms of a visitor that reads every scalar as `$other`.
macro_rules! scalars_as {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// Any JSON value, read and dropped. Not `serde::de::IgnoredAny`: serde_json skips those
/// without decoding strings or numbers, so it accepts a lone surrogate escape or a number out
/// of range that reading the line as a `Value` (as messages are read back) refuses. Strings
/// without escapes are still read without a copy.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_as!(Skip);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Skip, A::Error> {
                drain_seq(seq).map(|_| Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Skip, A::Error> {
                drain_map(map).map(|_| Skip)
            }
        }
        d.deserialize_any(V)
    }
}

/// Drains a sequence, telling whether it had any element.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<bool, A::Error> {
    let mut any = false;
    while seq.next_element::<Skip>()?.is_some() {
        any = true;
    }
    Ok(any)
}

/// Drains a map, telling whether it had any entry.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<bool, A::Error> {
    let mut any = false;
    while map.next_entry::<Skip, Skip>()?.is_some() {
        any = true;
    }
    Ok(any)
}

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|_| MaybeStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|_| MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Truthy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Truthy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Truthy(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Truthy(v != 0))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Truthy(v != 0))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Truthy(v != 0.0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Truthy(!v.is_empty()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Truthy(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|_| Truthy(true))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|_| Truthy(true))
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys a visitor reads; every other key's value is skipped.
enum Key {
    Role,
    IsSidechain,
    Content,
    Type,
    Text,
    Name,
    Input,
    Command,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "role" => Key::Role,
                    "is_sidechain" => Key::IsSidechain,
                    "content" => Key::Content,
                    "type" => Key::Type,
                    "text" => Key::Text,
                    "name" => Key::Name,
                    "input" => Key::Input,
                    "command" => Key::Command,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Message<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_as!(Message(None));
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|_| Message(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut line = Line::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Role => line.role = map.next_value::<MaybeStr>()?.0,
                        Key::IsSidechain => line.sidechain = map.next_value::<Truthy>()?.0,
                        Key::Content => line.content = map.next_value::<Content>()?,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Message(Some(line)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Content<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Content::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Content::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Content::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Content::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(block) = seq.next_element::<Block>()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|any| Content::Object { empty: !any })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Block<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Block<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_as!(Block::default());
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|_| Block::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut block = Block::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Type => block.kind = map.next_value::<MaybeStr>()?.0,
                        Key::Text => block.text = map.next_value::<MaybeStr>()?.0,
                        Key::Name => block.name = map.next_value::<MaybeStr>()?.0,
                        Key::Content => block.content = map.next_value::<MaybeStr>()?.0,
                        Key::Input => block.command = map.next_value::<Input>()?.0,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(block)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Input<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Input<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_as!(Input(None));
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|_| Input(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut command = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Command => command = map.next_value::<MaybeStr>()?.0,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Input(command))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::messages::is_visible;
    use serde_json::Value;

    /// What the `Value` reading of the same line says: (is an object, visible).
    fn by_value(line: &str) -> Option<bool> {
        match serde_json::from_str::<Value>(line).ok()? {
            Value::Object(m) => Some(is_visible(&m)),
            _ => None,
        }
    }

    #[test]
    fn reads_the_fields_borrowing_what_has_no_escapes() {
        let raw =
            br#"{"msg_id":"m1","role":"assistant","content":[{"type":"text","text":"hi \"you\""},
            {"type":"tool_use","name":"Bash","input":{"command":"ls","x":[1,{"a":null}]}},
            {"type":"tool_result","content":"out"}, 7, [1], null]}"#;
        let line = Line::parse(raw).unwrap();
        assert_eq!(line.role.as_deref(), Some("assistant"));
        assert!(matches!(line.role, Some(Cow::Borrowed(_))));
        let Content::Blocks(blocks) = &line.content else {
            panic!("{line:?}")
        };
        assert_eq!(blocks.len(), 6);
        assert_eq!(blocks[0].text.as_deref(), Some("hi \"you\""));
        assert!(matches!(blocks[0].text, Some(Cow::Owned(_))));
        assert_eq!(blocks[1].command.as_deref(), Some("ls"));
        assert_eq!(blocks[1].name.as_deref(), Some("Bash"));
        assert_eq!(blocks[2].content.as_deref(), Some("out"));
        assert_eq!(blocks[3], Block::default());
        assert!(line.is_visible());
    }

    #[test]
    fn agrees_with_the_value_reading_on_odd_lines() {
        let lines = [
            "",
            "\n",
            "not json",
            "[1,2]",
            "\"text\"",
            "42",
            "null",
            "{}",
            "{} trailing",
            r#"{"role":"tool"}"#,
            r#"{"role":"user","content":""}"#,
            r#"{"role":"user","content":"x","is_sidechain":true}"#,
            r#"{"role":"user","content":"x","is_sidechain":0}"#,
            r#"{"role":"user","content":"x","is_sidechain":0.0}"#,
            r#"{"role":"user","content":"x","is_sidechain":""}"#,
            r#"{"role":"user","content":"x","is_sidechain":[]}"#,
            r#"{"role":"user","content":"x","is_sidechain":{}}"#,
            r#"{"role":"user","content":"x","is_sidechain":null}"#,
            r#"{"role":"user","content":[]}"#,
            r#"{"role":"user","content":{}}"#,
            r#"{"role":"user","content":{"a":1}}"#,
            r#"{"role":"user","content":false}"#,
            r#"{"role":"user","content":0}"#,
            r#"{"role":"user","content":null}"#,
            r#"{"role":5,"content":null}"#,
            r#"{"role":"tool","content":null}"#,
            r#"{"content":"x","content":""}"#,
            r#"{"content":"","content":"x"}"#,
            r#"{"content":"x","is_sidechain":true,"is_sidechain":false}"#,
            r#"{"content":"x", "nested": {"deep": [1, 2, {"x": "\u00e9"}]}}"#,
            r#"{"content":"x" "#,
            r#"{"content":"\ud800"}"#,
            r#"{"content":"x","other":"\ud800"}"#,
            r#"{"content":"x","other":"\ud800\u0041"}"#,
            r#"{"content":"x","other":"\x"}"#,
            r#"{"content":"x","other":"a	b"}"#,
            r#"{"content":"x","other":1e999}"#,
        ];
        for line in lines {
            let typed = Line::parse(line.as_bytes()).map(|l| l.is_visible());
            assert_eq!(typed, by_value(line), "{line:?}");
        }
        assert_eq!(Line::parse(b"{\"content\":\"\xff\"}"), None);
    }
}
