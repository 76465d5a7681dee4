//! JSON-RPC rules on a route (README "MCP servers"): scopes per JSON-RPC method and per MCP tool, prompt or
//! resource, matched against the request body.
//!
//! The body is parsed in one pass, strictly: JSON-RPC 2.0 messages (request, notification, response) or a
//! batch of them, no unknown or repeated member at any depth, nesting bounded. Only each message's method
//! and name are kept, borrowed from the body where they have no escapes; everything else is checked and
//! skipped without building a value.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::jose::b64_decode_padded;
use crate::jose::json::{Keys, Text};

/// The largest body the gateway reads on a route with JSON-RPC rules; longer is 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Deepest nesting of arrays and objects accepted in a body (a message is at depth 1).
pub const MAX_DEPTH: usize = 32;

/// A method or name pattern: exact, or a prefix ending in `*` (`*` alone matches everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(text: String, what: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err(format!("{what} must not be empty"));
        }
        match text.strip_suffix('*') {
            Some(prefix) if prefix.contains('*') => {
                Err(format!("{what} may only use * at its end"))
            }
            Some(prefix) => Ok(Self::Prefix(prefix.to_owned())),
            None if text.contains('*') => Err(format!("{what} may only use * at its end")),
            None => Ok(Self::Exact(text)),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            Self::Exact(exact) => text == exact,
            Self::Prefix(prefix) => text.starts_with(prefix.as_str()),
        }
    }
}

/// One validated entry of a rule's `jsonrpc` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRpcRule {
    pub method: Pattern,
    /// Matched against the tool or prompt name, or the resource URI; `None` for every message of the
    /// method.
    pub name: Option<Pattern>,
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJsonRpcRule {
    method: String,
    name: Option<String>,
    scopes: Vec<String>,
}

impl RawJsonRpcRule {
    pub(super) fn validate(self) -> Result<JsonRpcRule, String> {
        if self.scopes.is_empty() {
            return Err("scopes must not be empty".into());
        }
        Ok(JsonRpcRule {
            method: Pattern::parse(self.method, "method")?,
            name: self.name.map(|n| Pattern::parse(n, "name")).transpose()?,
            scopes: super::routes::scope_names(self.scopes)?,
        })
    }
}

impl JsonRpcRule {
    fn matches(&self, call: &Call<'_>) -> bool {
        let Some(method) = call.method.as_deref() else {
            return false;
        };
        self.method.matches(method)
            && match &self.name {
                None => true,
                Some(name) => call.name.as_deref().is_some_and(|n| name.matches(n)),
            }
    }
}

/// The method and name of one message: `None` for a response (no method) and for methods without a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    pub method: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
}

/// A parsed body: its messages, and whether they came as a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body<'a> {
    pub calls: Vec<Call<'a>>,
    pub batch: bool,
}

/// Why a body is refused (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonRpcError {
    /// Not JSON (syntax, encoding, trailing bytes).
    NotJson,
    /// An object repeats a member name.
    DuplicateMember,
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Neither an object nor a non-empty array of objects.
    NotAMessage,
    /// `jsonrpc` is missing or not `"2.0"`.
    Version,
    /// A member that JSON-RPC 2.0 does not define, or one of the wrong type.
    Member,
    /// Neither a request, a notification nor a response.
    Shape,
    /// `tools/call` or `prompts/get` without a string `params.name`, or `resources/read` without a
    /// string `params.uri`.
    Name,
    /// `Mcp-Method` or `Mcp-Name` disagrees with the body.
    HeaderMismatch,
    /// `Mcp-Method` or `Mcp-Name` sent with a batch.
    HeaderOnBatch,
    /// The body could not be read.
    Unreadable,
}

impl JsonRpcError {
    pub fn description(self) -> &'static str {
        match self {
            Self::NotJson => "body: not valid JSON",
            Self::DuplicateMember => "body: an object repeats a member name",
            Self::TooDeep => "body: nested too deeply",
            Self::NotAMessage => "body: not a JSON-RPC message or a non-empty batch of them",
            Self::Version => "body: jsonrpc must be the string 2.0",
            Self::Member => "body: a member that JSON-RPC 2.0 does not define, or of the wrong type",
            Self::Shape => "body: neither a JSON-RPC request, notification nor response",
            Self::Name => "body: tools/call and prompts/get need a string params.name, resources/read a string params.uri",
            Self::HeaderMismatch => "Mcp-Method or Mcp-Name does not match the body",
            Self::HeaderOnBatch => "Mcp-Method and Mcp-Name cannot be sent with a batch",
            Self::Unreadable => "body: could not be read",
        }
    }
}

/// Parses a body as JSON-RPC 2.0, in one pass.
pub fn parse(body: &[u8]) -> Result<Body<'_>, JsonRpcError> {
    let reason = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Top { reason: &reason }
        .deserialize(&mut de)
        .and_then(|body| de.end().map(|()| body));
    parsed.map_err(|e| {
        reason.take().unwrap_or(match e.classify() {
            // A type the visitors do not take (serde's `invalid_type`).
            serde_json::error::Category::Data => JsonRpcError::Member,
            _ => JsonRpcError::NotJson,
        })
    })
}

/// Checks the `Mcp-Method` and `Mcp-Name` headers against the body (MCP streamable HTTP transport): a
/// header the client sends must say what the body says. `Mcp-Name` may be `=?base64?...?=` encoded.
pub fn check_headers(
    body: &Body<'_>,
    mcp_method: Option<&str>,
    mcp_name: Option<&str>,
) -> Result<(), JsonRpcError> {
    if mcp_method.is_none() && mcp_name.is_none() {
        return Ok(());
    }
    if body.batch {
        return Err(JsonRpcError::HeaderOnBatch);
    }
    let call = &body.calls[0];
    let agrees = |header: Option<&str>, value: &Option<Cow<'_, str>>| match header {
        None => true,
        Some(header) => value.as_deref() == Some(header),
    };
    let name = mcp_name.map(decode_header_value).transpose()?;
    if agrees(mcp_method, &call.method) && agrees(name.as_deref(), &call.name) {
        Ok(())
    } else {
        Err(JsonRpcError::HeaderMismatch)
    }
}

/// A header value as is, or the UTF-8 text of its `=?base64?...?=` form.
fn decode_header_value(value: &str) -> Result<Cow<'_, str>, JsonRpcError> {
    let Some(encoded) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Ok(Cow::Borrowed(value));
    };
    b64_decode_padded(encoded)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Cow::Owned)
        .ok_or(JsonRpcError::HeaderMismatch)
}

/// The scopes of every entry that matches a message of the body, each once, in entry order.
pub fn matching_scopes<'r>(rules: &'r [JsonRpcRule], body: &Body<'_>) -> Vec<&'r str> {
    let mut scopes: Vec<&'r str> = Vec::new();
    for rule in rules {
        if body.calls.iter().any(|call| rule.matches(call)) {
            for scope in &rule.scopes {
                if !scopes.contains(&scope.as_str()) {
                    scopes.push(scope);
                }
            }
        }
    }
    scopes
}

// --- The parser: serde seeds over serde_json's deserializer, so nothing is built but what is kept. ---

type Reason<'c> = &'c Cell<Option<JsonRpcError>>;

/// Visitor methods that refuse every scalar (boolean, number, string, null) for `why`.
macro_rules! refuse_scalars {
    ($value:ty, $why:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Err(fail(self.reason, $why))
        }
    };
}

/// Accepts numbers, strings and null, which a visitor then drops.
macro_rules! accept_numbers_strings_null {
    () => {
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

fn fail<E: de::Error>(reason: Reason<'_>, why: JsonRpcError) -> E {
    reason.set(Some(why));
    E::custom(why.description())
}

/// The whole body: one message or a batch.
struct Top<'c> {
    reason: Reason<'c>,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Body<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Body<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Body<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<'de>, A::Error> {
        let call = Message {
            reason: self.reason,
            depth: 1,
        }
        .visit_map(map)?;
        Ok(Body {
            calls: vec![call],
            batch: false,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<'de>, A::Error> {
        let mut calls = Vec::new();
        while let Some(call) = seq.next_element_seed(Message {
            reason: self.reason,
            depth: 2,
        })? {
            calls.push(call);
        }
        if calls.is_empty() {
            return Err(fail(self.reason, JsonRpcError::NotAMessage));
        }
        Ok(Body { calls, batch: true })
    }

    refuse_scalars!(Body<'de>, JsonRpcError::NotAMessage);
}

/// One message object (JSON-RPC 2.0 sections 4, 5), at `depth` (1 alone, 2 in a batch).
struct Message<'c> {
    reason: Reason<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Message<'_> {
    type Value = Call<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Call<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// The members a message may have, once each.
const JSONRPC: u8 = 1;
const METHOD: u8 = 2;
const ID: u8 = 4;
const PARAMS: u8 = 8;
const RESULT: u8 = 16;
const ERROR: u8 = 32;

impl<'de> Visitor<'de> for Message<'_> {
    type Value = Call<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Call<'de>, A::Error> {
        let (reason, depth) = (self.reason, self.depth + 1);
        let mut seen = 0u8;
        let mut method = None;
        let mut params = Params::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let member = match key.as_ref() {
                "jsonrpc" => JSONRPC,
                "method" => METHOD,
                "id" => ID,
                "params" => PARAMS,
                "result" => RESULT,
                "error" => ERROR,
                _ => return Err(fail(reason, JsonRpcError::Member)),
            };
            if seen & member != 0 {
                return Err(fail(reason, JsonRpcError::DuplicateMember));
            }
            seen |= member;
            match member {
                JSONRPC => {
                    if map.next_value::<Text<'de>>()?.0 != "2.0" {
                        return Err(fail(reason, JsonRpcError::Version));
                    }
                }
                METHOD => method = Some(map.next_value::<Text<'de>>()?.0),
                ID => map.next_value_seed(Id { reason })?,
                PARAMS => params = map.next_value_seed(ParamsSeed { reason, depth })?,
                RESULT => map.next_value_seed(Skip { reason, depth })?,
                _ => map.next_value_seed(ErrorObject { reason, depth })?,
            }
        }
        if seen & JSONRPC == 0 {
            return Err(fail(reason, JsonRpcError::Version));
        }
        // A request or notification has a method and no result or error; a response has an id and
        // exactly one of result and error, and nothing else.
        let shape_ok = if method.is_some() {
            seen & (RESULT | ERROR) == 0
        } else {
            seen & ID != 0 && seen & PARAMS == 0 && (seen & RESULT == 0) != (seen & ERROR == 0)
        };
        if !shape_ok {
            return Err(fail(reason, JsonRpcError::Shape));
        }
        let name = match method.as_deref() {
            Some("tools/call" | "prompts/get") => Some(params.name),
            Some("resources/read") => Some(params.uri),
            _ => None,
        };
        let name = match name {
            None => None,
            Some(Some(name)) => Some(name),
            Some(None) => return Err(fail(reason, JsonRpcError::Name)),
        };
        Ok(Call { method, name })
    }

    // Anything but an object in a batch is no message.
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Call<'de>, A::Error> {
        Err(fail(self.reason, JsonRpcError::NotAMessage))
    }
    refuse_scalars!(Call<'de>, JsonRpcError::NotAMessage);
}

/// `id`: a string, a number or null (JSON-RPC 2.0 section 4).
struct Id<'c> {
    reason: Reason<'c>,
}

impl<'de> DeserializeSeed<'de> for Id<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Id<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or null")
    }
    accept_numbers_strings_null!();
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(fail(self.reason, JsonRpcError::Member))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(fail(self.reason, JsonRpcError::Member))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(fail(self.reason, JsonRpcError::Member))
    }
}

/// `error` of a response: an object (its members are checked and skipped like any value).
struct ErrorObject<'c> {
    reason: Reason<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ErrorObject<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(Skip {
            reason: self.reason,
            depth: self.depth,
        })
    }
}

/// What `params` tells: its `name` and `uri` members, when they are strings.
#[derive(Default)]
struct Params<'de> {
    name: Option<Cow<'de, str>>,
    uri: Option<Cow<'de, str>>,
}

/// `params`: an object or an array (JSON-RPC 2.0 section 4.2), at `depth`.
struct ParamsSeed<'c> {
    reason: Reason<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ParamsSeed<'_> {
    type Value = Params<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Params<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed<'_> {
    type Value = Params<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Params<'de>, A::Error> {
        Skip {
            reason: self.reason,
            depth: self.depth,
        }
        .visit_seq(seq)?;
        Ok(Params::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
        let (reason, depth) = (self.reason, self.depth + 1);
        if self.depth > MAX_DEPTH {
            return Err(fail(reason, JsonRpcError::TooDeep));
        }
        let mut params = Params::default();
        let mut keys = Keys::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_ref() {
                "name" => Some(&mut params.name),
                "uri" => Some(&mut params.uri),
                _ => None,
            };
            if !keys.insert(key) {
                return Err(fail(reason, JsonRpcError::DuplicateMember));
            }
            match slot {
                Some(slot) => *slot = map.next_value_seed(MaybeText { reason, depth })?,
                None => map.next_value_seed(Skip { reason, depth })?,
            }
        }
        Ok(params)
    }

    refuse_scalars!(Params<'de>, JsonRpcError::Member);
}

/// A value that is kept when it is a string, and checked and skipped otherwise.
struct MaybeText<'c> {
    reason: Reason<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for MaybeText<'_> {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MaybeText<'_> {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let skip = Skip {
            reason: self.reason,
            depth: self.depth,
        };
        skip.visit_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let skip = Skip {
            reason: self.reason,
            depth: self.depth,
        };
        skip.visit_map(map).map(|()| None)
    }
}

/// Any JSON value, checked (unique member names, bounded depth) and dropped. `depth` is the depth of
/// the arrays and objects it may open.
struct Skip<'c> {
    reason: Reason<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    accept_numbers_strings_null!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth > MAX_DEPTH {
            return Err(fail(self.reason, JsonRpcError::TooDeep));
        }
        let inner = || Skip {
            reason: self.reason,
            depth: self.depth + 1,
        };
        while seq.next_element_seed(inner())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth > MAX_DEPTH {
            return Err(fail(self.reason, JsonRpcError::TooDeep));
        }
        let mut keys = Keys::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if !keys.insert(key) {
                return Err(fail(self.reason, JsonRpcError::DuplicateMember));
            }
            map.next_value_seed(Skip {
                reason: self.reason,
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<JsonRpcRule> {
        serde_json::from_str::<Vec<RawJsonRpcRule>>(json)
            .unwrap()
            .into_iter()
            .map(|r| r.validate().unwrap())
            .collect()
    }

    fn calls(body: &str) -> Vec<(Option<String>, Option<String>)> {
        parse(body.as_bytes())
            .unwrap()
            .calls
            .into_iter()
            .map(|c| (c.method.map(Cow::into_owned), c.name.map(Cow::into_owned)))
            .collect()
    }

    fn refused(body: &str) -> JsonRpcError {
        parse(body.as_bytes()).unwrap_err()
    }

    fn owned(method: &str, name: Option<&str>) -> (Option<String>, Option<String>) {
        (Some(method.to_owned()), name.map(str::to_owned))
    }

    #[test]
    fn requests_notifications_responses_and_batches() {
        assert_eq!(
            calls(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{"a":[1,{"b":null}]}}}"#
            ),
            [owned("tools/call", Some("delete_repo"))]
        );
        // Member order does not matter; escapes are decoded.
        assert_eq!(
            calls(
                r#"{"params":{"arguments":{},"name":"del\u0065te"},"method":"tools\/call","id":"x","jsonrpc":"2.0"}"#
            ),
            [owned("tools/call", Some("delete"))]
        );
        assert_eq!(
            calls(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            [owned("notifications/initialized", None)]
        );
        assert_eq!(
            calls(
                r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"file:///a"}}"#
            ),
            [owned("resources/read", Some("file:///a"))]
        );
        assert_eq!(
            calls(r#"{"jsonrpc":"2.0","id":null,"method":"prompts/get","params":{"name":"p"}}"#),
            [owned("prompts/get", Some("p"))]
        );
        assert_eq!(
            calls(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":["positional",1]}"#),
            [owned("tools/list", None)]
        );
        assert_eq!(
            calls(r#"{"jsonrpc":"2.0","id":1,"result":{"x":1}}"#),
            [(None, None)]
        );
        assert_eq!(
            calls(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"m","data":[1]}}"#),
            [(None, None)]
        );
        let batch = parse(
            br#" [{"jsonrpc":"2.0","id":1,"method":"tools/list"},
                 {"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}},
                 {"jsonrpc":"2.0","id":2,"result":null}] "#,
        )
        .unwrap();
        assert!(batch.batch);
        assert_eq!(batch.calls.len(), 3);
        assert_eq!(batch.calls[1].name.as_deref(), Some("t"));
        // Strings without escapes are borrowed from the body.
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#;
        let parsed = parse(body).unwrap();
        assert!(matches!(parsed.calls[0].method, Some(Cow::Borrowed(_))));
        assert!(matches!(parsed.calls[0].name, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn invalid_bodies_have_typed_reasons() {
        let deep = |n: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"m","params":{{"a":{}1{}}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        for (body, reason) in [
            ("", JsonRpcError::NotJson),
            ("{", JsonRpcError::NotJson),
            (r#"{"jsonrpc":"2.0","method":"m"} x"#, JsonRpcError::NotJson),
            (r#"{"jsonrpc":"2.0","method":"m"}{}"#, JsonRpcError::NotJson),
            ("\u{feff}{}", JsonRpcError::NotJson),
            ("[]", JsonRpcError::NotAMessage),
            ("[1]", JsonRpcError::NotAMessage),
            ("[[]]", JsonRpcError::NotAMessage),
            ("\"s\"", JsonRpcError::NotAMessage),
            ("null", JsonRpcError::NotAMessage),
            ("{}", JsonRpcError::Version),
            (r#"{"jsonrpc":"1.0","method":"m"}"#, JsonRpcError::Version),
            (r#"{"method":"m","id":1}"#, JsonRpcError::Version),
            (r#"{"jsonrpc":2.0,"method":"m"}"#, JsonRpcError::Member),
            (r#"{"jsonrpc":"2.0","method":1}"#, JsonRpcError::Member),
            (
                r#"{"jsonrpc":"2.0","method":"m","id":true}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","id":{}}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","params":"x"}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","params":null}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","extra":1}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"error":"e"}"#,
                JsonRpcError::Member,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"a","method":"b"}"#,
                JsonRpcError::DuplicateMember,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a","name":"b"}}"#,
                JsonRpcError::DuplicateMember,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","params":{"a":{"x":1,"x":2}}}"#,
                JsonRpcError::DuplicateMember,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":[{"k":1,"k":1}]}"#,
                JsonRpcError::DuplicateMember,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, JsonRpcError::Shape),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
                JsonRpcError::Shape,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","result":1}"#,
                JsonRpcError::Shape,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"params":{}}"#,
                JsonRpcError::Shape,
            ),
            (r#"{"jsonrpc":"2.0","result":1}"#, JsonRpcError::Shape),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                JsonRpcError::Name,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["t"]}}"#,
                JsonRpcError::Name,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["t"]}"#,
                JsonRpcError::Name,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"t"}}"#,
                JsonRpcError::Name,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":null}}"#,
                JsonRpcError::Name,
            ),
        ] {
            assert_eq!(refused(body), reason, "{body}");
        }
        // The message is at depth 1 and params at 2: arrays fill depths 3 to n + 2.
        assert!(parse(deep(MAX_DEPTH - 2).as_bytes()).is_ok());
        assert_eq!(refused(&deep(MAX_DEPTH - 1)), JsonRpcError::TooDeep);
        let batch = |n: usize| format!("[{}]", deep(n));
        assert!(parse(batch(MAX_DEPTH - 3).as_bytes()).is_ok());
        assert_eq!(refused(&batch(MAX_DEPTH - 2)), JsonRpcError::TooDeep);
        // Far deeper than serde_json's own limit: still the typed reason, and no stack overflow.
        assert_eq!(refused(&deep(100_000)), JsonRpcError::TooDeep);
        // Invalid UTF-8 inside a skipped string.
        let mut bad = br#"{"jsonrpc":"2.0","method":"m","params":{"a":"#.to_vec();
        bad.extend_from_slice(b"\"\xff\"}}");
        assert_eq!(parse(&bad).unwrap_err(), JsonRpcError::NotJson);
        // Many members in one object: duplicates are still found.
        let mut wide: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let ok = format!(
            r#"{{"jsonrpc":"2.0","method":"m","params":{{{}}}}}"#,
            wide.join(",")
        );
        assert!(parse(ok.as_bytes()).is_ok());
        wide.push(r#""k3":0"#.into());
        let dup = format!(
            r#"{{"jsonrpc":"2.0","method":"m","params":{{{}}}}}"#,
            wide.join(",")
        );
        assert_eq!(refused(&dup), JsonRpcError::DuplicateMember);
    }

    #[test]
    fn entries_match_methods_and_names_exactly_or_by_prefix() {
        let r = rules(
            r#"[{"method": "tools/call", "name": "delete_*", "scopes": ["repo:admin"]},
                {"method": "tools/call", "name": "read", "scopes": ["repo:read"]},
                {"method": "resources/*", "scopes": ["res"]},
                {"method": "*", "name": "x", "scopes": ["x", "repo:read"]}]"#,
        );
        let scopes = |body: &str| matching_scopes(&r, &parse(body.as_bytes()).unwrap());
        let call = |name: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            )
        };
        assert_eq!(scopes(&call("delete_repo")), ["repo:admin"]);
        assert_eq!(scopes(&call("delete_")), ["repo:admin"]);
        assert_eq!(scopes(&call("delete")), Vec::<&str>::new());
        assert_eq!(scopes(&call("read")), ["repo:read"]);
        assert_eq!(scopes(&call("read2")), Vec::<&str>::new());
        assert_eq!(scopes(&call("x")), ["x", "repo:read"]);
        assert_eq!(
            scopes(r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#),
            ["res"]
        );
        // A batch needs the scopes of every message; a response matches nothing.
        let batch = format!(
            r#"[{{"jsonrpc":"2.0","id":1,"method":"tools/list"}}, {}, {}, {{"jsonrpc":"2.0","id":9,"result":{{}}}}]"#,
            call("read"),
            call("delete_all")
        );
        assert_eq!(scopes(&batch), ["repo:admin", "repo:read"]);
        assert_eq!(
            scopes(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn invalid_entries() {
        for (json, expected) in [
            (
                r#"{"method": "", "scopes": ["a"]}"#,
                "method must not be empty",
            ),
            (
                r#"{"method": "a*b", "scopes": ["a"]}"#,
                "method may only use * at its end",
            ),
            (
                r#"{"method": "a**", "scopes": ["a"]}"#,
                "method may only use * at its end",
            ),
            (
                r#"{"method": "m", "name": "", "scopes": ["a"]}"#,
                "name must not be empty",
            ),
            (
                r#"{"method": "m", "name": "*x", "scopes": ["a"]}"#,
                "name may only use * at its end",
            ),
            (
                r#"{"method": "m", "scopes": []}"#,
                "scopes must not be empty",
            ),
            (r#"{"method": "m", "scopes": ["a b"]}"#, "contains a space"),
        ] {
            let raw: RawJsonRpcRule = serde_json::from_str(json).unwrap();
            let err = raw.validate().unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
        for json in [
            r#"{"name": "m", "scopes": ["a"]}"#,
            r#"{"method": "m"}"#,
            r#"{"method": "m", "scopes": ["a"], "extra": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<RawJsonRpcRule>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn headers_must_agree_with_the_body() {
        let single =
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t\u00e9"}}"#)
                .unwrap();
        let check = |m, n| check_headers(&single, m, n);
        assert_eq!(check(None, None), Ok(()));
        assert_eq!(check(Some("tools/call"), None), Ok(()));
        assert_eq!(check(Some("tools/call"), Some("t\u{e9}")), Ok(()));
        // base64 of the UTF-8 bytes of "té".
        assert_eq!(check(Some("tools/call"), Some("=?base64?dMOp?=")), Ok(()));
        assert_eq!(check(None, Some("=?base64?dMOp?=")), Ok(()));
        for (m, n) in [
            (Some("tools/list"), None),
            (Some("Tools/call"), None),
            (Some("tools/call"), Some("other")),
            (None, Some("t")),
            (None, Some("=?base64?dA==?=")),
            (None, Some("=?base64?not base64?=")),
        ] {
            assert_eq!(
                check(m, n),
                Err(JsonRpcError::HeaderMismatch),
                "{m:?} {n:?}"
            );
        }
        let no_name = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(check_headers(&no_name, Some("tools/list"), None), Ok(()));
        assert_eq!(
            check_headers(&no_name, Some("tools/list"), Some("x")),
            Err(JsonRpcError::HeaderMismatch)
        );
        let response = parse(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
        assert_eq!(
            check_headers(&response, Some("tools/call"), None),
            Err(JsonRpcError::HeaderMismatch)
        );
        let batch = parse(br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#).unwrap();
        assert_eq!(check_headers(&batch, None, None), Ok(()));
        assert_eq!(
            check_headers(&batch, Some("tools/list"), None),
            Err(JsonRpcError::HeaderOnBatch)
        );
        assert_eq!(
            check_headers(&batch, None, Some("x")),
            Err(JsonRpcError::HeaderOnBatch)
        );
    }
}
