//! Route policy (README "Routes"): which requests need a token and which scopes, by path and method.
//! The table is validated once at start-up, so that ambiguity is a configuration error, not a surprise
//! at request time.

use serde::de::Unexpected;
use serde_json::Value;

use super::claims::{ClaimRule, RawClaimRule};
use super::jsonrpc::{JsonRpcRule, RawJsonRpcRule};
use super::resources::Resource;
use crate::http::path;
use crate::out_of_line::apart;

/// How a rule's path matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// Exactly this normalised path.
    Exact(String),
    /// `/p/*`: `/p` itself and every path under `/p/` (stored as `/p`; `/*` is stored as the empty string).
    Prefix(String),
}

impl PathPattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => {
                path == p
                    || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'/'))
            }
        }
    }

    /// Orders rules: exact before prefix, longer prefix before shorter.
    fn specificity(&self) -> (bool, usize) {
        match self {
            Self::Exact(p) => (true, p.len()),
            Self::Prefix(p) => (false, p.len()),
        }
    }
}

/// Whether a request needs a token, and which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Public: no token is read.
    Public,
    /// Without credentials the request goes through anonymously; credentials that are sent must be valid
    /// (express-oauth2-jwt-bearer `authRequired: false`, Envoy `allow_missing`).
    Optional,
    /// A valid token whose granted scopes satisfy `scopes` under `mode` (empty: any valid token).
    Token {
        scopes: Vec<String>,
        mode: ScopeMatch,
    },
}

/// How required scopes combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeMatch {
    /// Every scope is required (AND).
    All,
    /// One of the scopes suffices (OR).
    Any,
}

/// One validated route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// The path as configured, e.g. `/api/messages/*` (used in logs and errors).
    pub pattern: String,
    pub path: PathPattern,
    /// Upper-case methods, or `None` for every method.
    pub methods: Option<Vec<String>>,
    pub access: Access,
    /// Audiences of this route, any of which `aud` may contain; `None` for `AUTH0_AUDIENCE`.
    pub audiences: Option<Vec<String>>,
    /// Claim rules a token must satisfy on this route.
    pub claims: Vec<ClaimRule>,
    /// `"rate_limit": true`: authorised requests count against the caller's budget in the `RATE_LIMITER`
    /// binding (README "Rate limits").
    pub rate_limit: bool,
    /// The protected resource this route belongs to (README "MCP servers"): an index into `RESOURCES`.
    pub resource: Option<usize>,
    /// Scopes per JSON-RPC method and name, matched against the body of a POST (README "MCP servers").
    pub jsonrpc: Vec<JsonRpcRule>,
}

impl RouteRule {
    /// True when the granted scopes satisfy the rule (always true for public rules).
    pub fn allows(&self, granted: &[String]) -> bool {
        match &self.access {
            Access::Public | Access::Optional => true,
            Access::Token { scopes, mode } => {
                let has = |s: &String| granted.iter().any(|g| g == s);
                match mode {
                    _ if scopes.is_empty() => true,
                    ScopeMatch::All => scopes.iter().all(has),
                    ScopeMatch::Any => scopes.iter().any(has),
                }
            }
        }
    }

    /// The scopes a token must carry, for the `insufficient_scope` challenge.
    pub fn required_scopes(&self) -> &[String] {
        match &self.access {
            Access::Public | Access::Optional => &[],
            Access::Token { scopes, .. } => scopes,
        }
    }

    /// Every scope a request on this route can be asked for, for the resource's `scopes_supported`.
    pub fn all_scopes(&self) -> impl Iterator<Item = &str> {
        let jsonrpc = self.jsonrpc.iter().flat_map(|entry| &entry.scopes);
        self.required_scopes()
            .iter()
            .chain(jsonrpc)
            .map(String::as_str)
    }

    /// Whether a request with this method has its body read and matched against the JSON-RPC rules.
    pub fn reads_jsonrpc(&self, method: &str) -> bool {
        method == "POST" && !self.jsonrpc.is_empty()
    }

    /// Whether a request on this route has its credentials read: a public route never does, so the adapter
    /// need not fetch `Authorization` and `DPoP` for it.
    pub fn reads_credentials(&self) -> bool {
        self.access != Access::Public
    }

    /// Whether a token on this route is checked against `AUTH0_AUDIENCE` (no audience of its own).
    pub fn uses_default_audience(&self) -> bool {
        self.reads_credentials() && self.audiences.is_none()
    }

    fn applies_to(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method))
    }
}

/// The validated route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    rules: Vec<RouteRule>,
}

/// Methods a rule may name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A rule as written, each member of the right JSON type (a member given as `null` counts as absent).
/// Its members are read by hand ([`RawRule::read`]): serde's derived decoder, with the claim and JSON-RPC
/// entries inline, was about 24 KB of machine code that V8 compiles on the first request of every
/// isolate (README "What each step bought"). The entries, which few rules have, are decoded apart.
#[derive(Default)]
struct RawRule {
    path: String,
    methods: Option<Vec<String>>,
    auth: Option<String>,
    scopes: Option<Vec<String>>,
    match_mode: Option<String>,
    audience: Option<Vec<String>>,
    claims: Option<Value>,
    rate_limit: Option<bool>,
    resource: Option<String>,
    jsonrpc: Option<Value>,
}

/// The members a rule may have.
const RULE_MEMBERS: [&str; 10] = [
    "path",
    "methods",
    "auth",
    "scopes",
    "match",
    "audience",
    "claims",
    "rate_limit",
    "resource",
    "jsonrpc",
];

impl RawRule {
    fn read(value: Value) -> Result<Self, String> {
        let members = match value {
            Value::Object(members) => members,
            other => return Err(invalid_type(&other, "a route rule (a JSON object)")),
        };
        let mut rule = RawRule::default();
        let mut has_path = false;
        for (name, value) in members {
            if value.is_null() && name != "path" && RULE_MEMBERS.contains(&name.as_str()) {
                continue;
            }
            match name.as_str() {
                "path" => {
                    rule.path = string(value)?;
                    has_path = true;
                }
                "methods" => rule.methods = Some(strings(value)?),
                "auth" => rule.auth = Some(string(value)?),
                "scopes" => rule.scopes = Some(strings(value)?),
                "match" => rule.match_mode = Some(string(value)?),
                "audience" => rule.audience = Some(one_or_many(value)?),
                "claims" => rule.claims = Some(value),
                "rate_limit" => rule.rate_limit = Some(boolean(value)?),
                "resource" => rule.resource = Some(string(value)?),
                "jsonrpc" => rule.jsonrpc = Some(value),
                _ => return Err(unknown_member(&name)),
            }
        }
        if !has_path {
            return Err("missing field `path`".into());
        }
        Ok(rule)
    }
}

/// The error for a member no rule has, worded as serde words it.
fn unknown_member(name: &str) -> String {
    let expected: Vec<String> = RULE_MEMBERS.iter().map(|m| format!("`{m}`")).collect();
    format!(
        "unknown field `{name}`, expected one of {}",
        expected.join(", ")
    )
}

fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(invalid_type(&other, "a string")),
    }
}

fn strings(value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::Array(items) => items.into_iter().map(string).collect(),
        other => Err(invalid_type(&other, "a sequence")),
    }
}

fn boolean(value: Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(invalid_type(&other, "a boolean")),
    }
}

/// `audience`: a string or an array of strings.
fn one_or_many(value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(one) => Ok(vec![one]),
        Value::Array(_) => strings(value),
        other => Err(invalid_type(&other, "a string or an array of strings")),
    }
}

/// serde's wording for a value of the wrong JSON type: `invalid type: string "yes", expected a boolean`.
fn invalid_type(value: &Value, expected: &str) -> String {
    let unexpected = match value {
        Value::Null => Unexpected::Other("null"),
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Unexpected::Str(text),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    };
    format!("invalid type: {unexpected}, expected {expected}")
}

impl RouteTable {
    /// The demo routes of Auth0's API quickstarts (README "Features", Serve mode).
    pub fn demo() -> Self {
        Self::from_json(DEMO_ROUTES).expect("the built-in demo routes are valid")
    }

    /// Parses and validates `ROUTES`: a JSON array of rules. Errors name the rule.
    pub fn from_json(json: &str) -> Result<Self, String> {
        Self::with_resources(json, &[])
    }

    /// Parses and validates `ROUTES`, whose rules may join one of `resources` (README "MCP servers").
    pub fn with_resources(json: &str, resources: &[Resource]) -> Result<Self, String> {
        // Each rule is decoded on its own, so that every error names the rule it is about.
        let raw = match crate::jose::json::parse_strict(json.as_bytes()) {
            Ok(serde_json::Value::Array(rules)) => rules,
            Ok(_) => return Err("is not a JSON array of route rules".into()),
            Err(e) => return Err(format!("is not a valid JSON array of route rules: {e}")),
        };
        if raw.is_empty() {
            return Err("must contain at least one rule".into());
        }
        let mut rules = Vec::with_capacity(raw.len());
        for (i, value) in raw.into_iter().enumerate() {
            let name = match value.get("path").and_then(serde_json::Value::as_str) {
                Some(path) => format!("rule {} ({path})", i + 1),
                None => format!("rule {}", i + 1),
            };
            let rule = RawRule::read(value)
                .and_then(|raw| validate_rule(raw, resources))
                .map_err(|reason| format!("{name}: {reason}"))?;
            rules.push(rule);
        }
        for (i, a) in rules.iter().enumerate() {
            for (j, b) in rules.iter().enumerate().skip(i + 1) {
                if a.path == b.path && methods_overlap(&a.methods, &b.methods) {
                    return Err(format!(
                        "rule {} ({}) and rule {} ({}) match the same path and method",
                        i + 1,
                        a.pattern,
                        j + 1,
                        b.pattern
                    ));
                }
            }
        }
        Ok(Self { rules })
    }

    /// The most specific rule for a normalised path and method: exact before prefix, longer prefix before
    /// shorter, a rule naming the method before one for every method.
    pub fn find(&self, method: &str, path: &str) -> Option<&RouteRule> {
        self.rules
            .iter()
            .filter(|r| r.path.matches(path) && r.applies_to(method))
            .max_by_key(|r| (r.path.specificity(), r.methods.is_some()))
    }

    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// Whether any rule has JSON-RPC rules (only then are the `Mcp-*` headers read).
    pub fn has_jsonrpc(&self) -> bool {
        self.rules.iter().any(|r| !r.jsonrpc.is_empty())
    }
}

const DEMO_ROUTES: &str = r#"[
  {"path": "/api/public", "methods": ["GET"], "auth": "none"},
  {"path": "/api/private", "methods": ["GET"], "auth": "required"},
  {"path": "/api/private-scoped", "methods": ["GET"], "scopes": ["read:messages"]}
]"#;

fn validate_rule(raw: RawRule, resources: &[Resource]) -> Result<RouteRule, String> {
    let path = pattern_path(&raw.path)?;
    let methods = raw.methods.map(rule_methods).transpose()?;
    let access = access(raw.auth.as_deref(), raw.scopes, raw.match_mode.as_deref())?;
    let mut audiences = raw.audience.map(audiences).transpose()?;
    let resource = match raw.resource {
        None => None,
        Some(_) if audiences.is_some() => {
            return Err(
                "has both audience and resource (the resource's audience applies: RESOURCES)"
                    .into(),
            )
        }
        Some(url) => {
            let index = resources
                .iter()
                .position(|r| r.url == url)
                .ok_or_else(|| format!("resource {url:?} is not declared in RESOURCES"))?;
            // RFC 8707: on a resource's routes the token must be issued for that resource.
            if access != Access::Public {
                audiences = Some(vec![resources[index].audience.clone()]);
            }
            Some(index)
        }
    };
    let claims = match raw.claims {
        Some(list) => apart(|| {
            serde_json::from_value::<Vec<RawClaimRule>>(list)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(RawClaimRule::validate)
                .collect::<Result<Vec<_>, _>>()
        })?,
        None => Vec::new(),
    };
    if access == Access::Public && (audiences.is_some() || !claims.is_empty()) {
        return Err("auth \"none\" reads no token, so it cannot have an audience or claims".into());
    }
    let rate_limit = raw.rate_limit.unwrap_or(false);
    if rate_limit && access == Access::Public {
        // The budget belongs to a verified identity; a public route has none to count against.
        return Err(
            "rate_limit: auth \"none\" reads no token, so there is no identity to limit".into(),
        );
    }
    let jsonrpc = raw
        .jsonrpc
        .map(|list| apart(|| jsonrpc(list, &access, &methods)))
        .transpose()?;
    Ok(RouteRule {
        pattern: raw.path,
        path,
        methods,
        access,
        audiences,
        claims,
        rate_limit,
        resource,
        jsonrpc: jsonrpc.unwrap_or_default(),
    })
}

/// A rule's `jsonrpc` entries: they need a token (their scopes are checked against it) and a rule that
/// covers POST. Errors name the entry.
fn jsonrpc(
    list: Value,
    access: &Access,
    methods: &Option<Vec<String>>,
) -> Result<Vec<JsonRpcRule>, String> {
    let list = serde_json::from_value::<Vec<RawJsonRpcRule>>(list).map_err(|e| e.to_string())?;
    if list.is_empty() {
        return Err("jsonrpc must not be empty (omit it)".into());
    }
    if !matches!(access, Access::Token { .. }) {
        return Err(
            "jsonrpc rules need auth \"required\" (their scopes are checked against a token)"
                .into(),
        );
    }
    if methods
        .as_ref()
        .is_some_and(|m| !m.iter().any(|m| m == "POST"))
    {
        return Err("jsonrpc rules apply to POST bodies, and methods does not include POST".into());
    }
    list.into_iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .validate()
                .map_err(|reason| format!("jsonrpc entry {}: {reason}", i + 1))
        })
        .collect()
}

fn pattern_path(raw: &str) -> Result<PathPattern, String> {
    match raw.strip_suffix("/*") {
        Some(prefix) => {
            check_pattern_path(if prefix.is_empty() { "/" } else { prefix })?;
            Ok(PathPattern::Prefix(prefix.to_owned()))
        }
        None => {
            check_pattern_path(raw)?;
            Ok(PathPattern::Exact(raw.to_owned()))
        }
    }
}

fn rule_methods(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("methods must not be empty (omit it for every method)".into());
    }
    let mut methods: Vec<String> = Vec::with_capacity(list.len());
    for m in list {
        let upper = m.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            return Err(format!(
                "unknown method {m:?} (expected one of {})",
                METHODS.join(", ")
            ));
        }
        if methods.contains(&upper) {
            return Err(format!("method {upper} is listed twice"));
        }
        methods.push(upper);
    }
    Ok(methods)
}

fn rule_scopes(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("scopes must not be empty (omit it, or use auth \"required\")".into());
    }
    scope_names(list)
}

/// A list of scope names: each non-empty, without spaces, quotes, backslashes or controls (they go into a
/// quoted challenge parameter).
pub(super) fn scope_names(list: Vec<String>) -> Result<Vec<String>, String> {
    if let Some(bad) = list.iter().find(|s| {
        s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
    }) {
        return Err(format!(
            "scope {bad:?} is empty or contains a space, quote or control character"
        ));
    }
    Ok(list)
}

fn access(
    auth: Option<&str>,
    scopes: Option<Vec<String>>,
    match_mode: Option<&str>,
) -> Result<Access, String> {
    let scopes = scopes.map(rule_scopes).transpose()?;
    let mode = match match_mode {
        None | Some("all") => ScopeMatch::All,
        Some("any") => ScopeMatch::Any,
        Some(other) => return Err(format!("match must be \"all\" or \"any\", not {other:?}")),
    };
    if match_mode.is_some() && scopes.is_none() {
        return Err("match is set without scopes".into());
    }
    Ok(match (auth, scopes) {
        (Some("none"), Some(_)) => return Err("auth \"none\" cannot require scopes".into()),
        (Some("none"), None) => Access::Public,
        (Some("optional"), Some(_)) => {
            return Err("auth \"optional\" cannot require scopes (use \"required\")".into())
        }
        (Some("optional"), None) => Access::Optional,
        (Some("required") | None, Some(scopes)) => Access::Token { scopes, mode },
        (Some("required"), None) => Access::Token {
            scopes: Vec::new(),
            mode,
        },
        (None, None) => {
            return Err(
                "auth must be set (\"none\", \"optional\" or \"required\") or scopes given".into(),
            )
        }
        (Some(other), _) => {
            return Err(format!(
                "auth must be \"none\", \"optional\" or \"required\", not {other:?}"
            ))
        }
    })
}

fn audiences(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() || list.iter().any(|a| a.trim().is_empty()) {
        return Err("audience must be a non-empty string or a non-empty array of them".into());
    }
    Ok(list)
}

/// A rule's path must already be in normal form, with `*` only as a trailing `/*`.
fn check_pattern_path(p: &str) -> Result<(), String> {
    if p.contains('*') {
        return Err("path may only use * as a trailing /*".into());
    }
    match path::normalize(p) {
        Ok(normal) if normal == p => Ok(()),
        Ok(_) => {
            Err("path is not in normal form (no ./, no escapes of unreserved characters)".into())
        }
        Err(reason) => Err(format!("path is invalid: {reason}")),
    }
}

fn methods_overlap(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        // A rule for every method and a method-specific rule are not ambiguous: the specific one wins.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(json: &str) -> RouteTable {
        RouteTable::from_json(json).unwrap()
    }

    fn pattern<'a>(t: &'a RouteTable, method: &str, path: &str) -> Option<&'a str> {
        t.find(method, path).map(|r| r.pattern.as_str())
    }

    #[test]
    fn policy_keys() {
        let t = table(
            r#"[
              {"path": "/a", "auth": "optional"},
              {"path": "/b/*", "audience": ["https://b", "https://b2"], "scopes": ["r"],
               "claims": [{"claim": "org_id", "equals": "o1"}]},
              {"path": "/c", "auth": "required", "audience": "https://c"}
            ]"#,
        );
        let a = t.find("GET", "/a").unwrap();
        assert_eq!(a.access, Access::Optional);
        assert!(a.uses_default_audience());
        assert!(!a.rate_limit);
        let limited = table(r#"[{"path": "/l", "auth": "optional", "rate_limit": true}]"#);
        assert!(limited.find("GET", "/l").unwrap().rate_limit);
        let b = t.find("GET", "/b/x").unwrap();
        assert_eq!(
            b.audiences.as_deref(),
            Some(&["https://b".to_owned(), "https://b2".to_owned()][..])
        );
        assert_eq!(b.claims.len(), 1);
        assert!(!b.uses_default_audience());
        assert_eq!(
            t.find("GET", "/c").unwrap().audiences.as_deref(),
            Some(&["https://c".to_owned()][..])
        );
    }

    #[test]
    fn only_public_routes_leave_credentials_unread() {
        let t = table(
            r#"[{"path": "/p", "auth": "none"}, {"path": "/o", "auth": "optional"},
                {"path": "/t", "auth": "required"}, {"path": "/s", "scopes": ["r"]}]"#,
        );
        let reads = |path| t.find("GET", path).unwrap().reads_credentials();
        assert!(!reads("/p"));
        assert!(reads("/o") && reads("/t") && reads("/s"));
    }

    #[test]
    fn jsonrpc_rules_add_their_scopes() {
        let t = table(
            r#"[{"path": "/mcp", "scopes": ["mcp"], "jsonrpc": [
                   {"method": "tools/call", "name": "delete_*", "scopes": ["admin", "mcp"]}]}]"#,
        );
        let rule = t.find("POST", "/mcp").unwrap();
        assert_eq!(rule.jsonrpc.len(), 1);
        assert_eq!(
            rule.all_scopes().collect::<Vec<_>>(),
            ["mcp", "admin", "mcp"]
        );
        assert!(rule.reads_jsonrpc("POST"));
        assert!(!rule.reads_jsonrpc("GET") && !rule.reads_jsonrpc("DELETE"));
    }

    #[test]
    fn demo_routes() {
        let t = RouteTable::demo();
        assert_eq!(t.find("GET", "/api/public").unwrap().access, Access::Public);
        assert_eq!(
            t.find("GET", "/api/private").unwrap().access,
            Access::Token {
                scopes: vec![],
                mode: ScopeMatch::All
            }
        );
        assert_eq!(
            t.find("GET", "/api/private-scoped")
                .unwrap()
                .required_scopes(),
            ["read:messages"]
        );
        assert!(t.find("POST", "/api/public").is_none());
        assert!(t.find("GET", "/api/public/x").is_none());
        assert!(t.find("GET", "/nope").is_none());
    }

    #[test]
    fn most_specific_rule_wins() {
        let t = table(
            r#"[
            {"path": "/*", "auth": "required"},
            {"path": "/api/*", "auth": "none"},
            {"path": "/api/messages/*", "methods": ["GET"], "scopes": ["read:messages"]},
            {"path": "/api/messages/*", "methods": ["POST", "delete"], "scopes": ["write:messages"]},
            {"path": "/api/messages/*", "scopes": ["admin"]},
            {"path": "/api/messages/special", "auth": "none"}
        ]"#,
        );
        assert_eq!(pattern(&t, "GET", "/other"), Some("/*"));
        assert_eq!(pattern(&t, "GET", "/"), Some("/*"));
        assert_eq!(pattern(&t, "GET", "/api"), Some("/api/*"));
        assert_eq!(pattern(&t, "GET", "/api/x"), Some("/api/*"));
        assert_eq!(pattern(&t, "GET", "/apix"), Some("/*"));
        assert_eq!(
            pattern(&t, "GET", "/api/messages/1"),
            Some("/api/messages/*")
        );
        assert_eq!(
            t.find("GET", "/api/messages/1").unwrap().required_scopes(),
            ["read:messages"]
        );
        assert_eq!(
            t.find("DELETE", "/api/messages/1")
                .unwrap()
                .required_scopes(),
            ["write:messages"]
        );
        assert_eq!(
            t.find("PUT", "/api/messages/1").unwrap().required_scopes(),
            ["admin"]
        );
        assert_eq!(
            t.find("GET", "/api/messages/special").unwrap().access,
            Access::Public
        );
    }

    #[test]
    fn scope_matching() {
        let t = table(
            r#"[
            {"path": "/all", "scopes": ["a", "b"]},
            {"path": "/any", "scopes": ["a", "b"], "match": "any"},
            {"path": "/auth", "auth": "required"}
        ]"#,
        );
        let granted = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = t.find("GET", "/all").unwrap();
        let any = t.find("GET", "/any").unwrap();
        assert!(all.allows(&granted(&["b", "a", "c"])));
        assert!(!all.allows(&granted(&["a"])));
        assert!(!all.allows(&granted(&[])));
        assert!(any.allows(&granted(&["b"])));
        assert!(!any.allows(&granted(&["c", "A"])));
        assert!(t.find("GET", "/auth").unwrap().allows(&[]));
    }

    /// A member given as `null` is absent, as it was with serde's derived decoder.
    #[test]
    fn null_members_are_absent() {
        let with_nulls = table(
            r#"[{"path": "/a", "auth": "required", "methods": null, "scopes": null, "match": null,
                 "audience": null, "claims": null, "rate_limit": null, "resource": null, "jsonrpc": null}]"#,
        );
        assert_eq!(with_nulls, table(r#"[{"path": "/a", "auth": "required"}]"#));
    }

    #[test]
    fn invalid_tables_name_the_rule() {
        for (json, expected) in [
            ("{}", "is not a JSON array"),
            ("[", "is not a valid JSON array"),
            ("[]", "must contain at least one rule"),
            (r#"[{"path": "/a"}]"#, "rule 1 (/a): auth must be set"),
            (
                r#"[{"path": "/a", "auth": "none", "extra": 1}]"#,
                "rule 1 (/a): unknown field `extra`, expected one of `path`, `methods`, `auth`, `scopes`, \
                 `match`, `audience`, `claims`, `rate_limit`, `resource`, `jsonrpc`",
            ),
            (
                "[5]",
                "rule 1: invalid type: integer `5`, expected a route rule (a JSON object)",
            ),
            (r#"[{"auth": "none"}]"#, "rule 1: missing field `path`"),
            (
                r#"[{"path": null, "auth": "none"}]"#,
                "rule 1: invalid type: null, expected a string",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "methods": "GET"}]"#,
                "rule 1 (/a): invalid type: string \"GET\", expected a sequence",
            ),
            (
                r#"[{"path": "/a", "scopes": ["a", 1.5]}]"#,
                "rule 1 (/a): invalid type: floating point `1.5`, expected a string",
            ),
            (
                r#"[{"path": "a", "auth": "none"}]"#,
                "rule 1 (a): path is invalid",
            ),
            (
                r#"[{"path": "/a/*/b", "auth": "none"}]"#,
                "only use * as a trailing /*",
            ),
            (
                r#"[{"path": "/a/../b", "auth": "none"}]"#,
                "path is invalid",
            ),
            (
                r#"[{"path": "/%61", "auth": "none"}]"#,
                "not in normal form",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "methods": []}]"#,
                "methods must not be empty",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "methods": ["FETCH"]}]"#,
                "unknown method \"FETCH\"",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "methods": ["GET", "get"]}]"#,
                "method GET is listed twice",
            ),
            (
                r#"[{"path": "/a", "scopes": []}]"#,
                "scopes must not be empty",
            ),
            (r#"[{"path": "/a", "scopes": ["a b"]}]"#, "contains a space"),
            (r#"[{"path": "/a", "scopes": [""]}]"#, "is empty"),
            (
                r#"[{"path": "/a", "auth": "none", "scopes": ["a"]}]"#,
                "auth \"none\" cannot require scopes",
            ),
            (
                r#"[{"path": "/a", "auth": "maybe"}]"#,
                "auth must be \"none\", \"optional\" or \"required\"",
            ),
            (
                r#"[{"path": "/a", "auth": "optional", "scopes": ["a"]}]"#,
                "rule 1 (/a): auth \"optional\" cannot require scopes",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "audience": "https://b"}]"#,
                "rule 1 (/a): auth \"none\" reads no token, so it cannot have an audience or claims",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "claims": [{"claim": "x", "equals": 1}]}]"#,
                "cannot have an audience or claims",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "audience": []}]"#,
                "rule 1 (/a): audience must be a non-empty string or a non-empty array of them",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "audience": -5}]"#,
                "rule 1 (/a): invalid type: integer `-5`, expected a string or an array of strings",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "claims": {"claim": "x"}}]"#,
                "rule 1 (/a): invalid type: map, expected a sequence",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "claims": [{"claim": "org_id"}]}]"#,
                "rule 1 (/a): claim \"org_id\" needs exactly one of equals, includes, not_prefix",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "claims": [{"claim": "r", "includes": []}]}]"#,
                "rule 1 (/a): claim \"r\": includes must not be empty",
            ),
            (
                r#"[{"path": "/a", "scopes": ["a"], "match": "some"}]"#,
                "match must be \"all\" or \"any\"",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "match": "any"}]"#,
                "match is set without scopes",
            ),
            (
                r#"[{"path": "/a/*", "auth": "none"}, {"path": "/b", "auth": "none"}, {"path": "/a/*", "scopes": ["x"]}]"#,
                "rule 1 (/a/*) and rule 3 (/a/*) match the same path and method",
            ),
            (
                r#"[{"path": "/a", "methods": ["GET", "POST"], "auth": "none"}, {"path": "/a", "methods": ["POST"], "auth": "required"}]"#,
                "rule 1 (/a) and rule 2 (/a) match the same path and method",
            ),
            (
                r#"[{"path": "/a", "path": "/b", "auth": "none"}]"#,
                "duplicate member name",
            ),
            (
                r#"[{"path": "/a", "auth": "none", "rate_limit": true}]"#,
                "rule 1 (/a): rate_limit: auth \"none\" reads no token, so there is no identity to limit",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "rate_limit": "yes"}]"#,
                "rule 1 (/a): invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "jsonrpc": []}]"#,
                "rule 1 (/a): jsonrpc must not be empty",
            ),
            (
                r#"[{"path": "/a", "auth": "optional", "jsonrpc": [{"method": "m", "scopes": ["s"]}]}]"#,
                "rule 1 (/a): jsonrpc rules need auth \"required\"",
            ),
            (
                r#"[{"path": "/a", "methods": ["GET"], "auth": "required", "jsonrpc": [{"method": "m", "scopes": ["s"]}]}]"#,
                "methods does not include POST",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "jsonrpc": [{"method": "m", "scopes": ["s"]}, {"name": "n", "scopes": ["s"]}]}]"#,
                "rule 1 (/a): missing field `method`",
            ),
            (
                r#"[{"path": "/a", "auth": "required", "jsonrpc": [{"method": "m", "scopes": ["s"]}, {"method": "a*b", "scopes": ["s"]}]}]"#,
                "rule 1 (/a): jsonrpc entry 2: method may only use * at its end",
            ),
        ] {
            let err = RouteTable::from_json(json).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
