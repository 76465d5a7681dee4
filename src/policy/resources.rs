//! Protected resources (README "MCP servers"; RFC 9728, RFC 8707): the resources `RESOURCES` declares,
//! where their metadata documents are served, and the documents themselves, built from configuration only
//! (never from the request's `Host`: a client compares `resource` with the URL it looked for, RFC 9728
//! section 3.3).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::authority::{is_loopback, split_authority, split_scheme, Authority, Scheme};
use crate::http::authorization::DpopMode;
use crate::jose::dpop::PROOF_ALGS;

/// The well-known path of protected resource metadata (RFC 9728 section 3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// One declared resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource identifier, exactly as configured (the document's `resource`).
    pub url: String,
    /// What a token's `aud` must contain on the resource's routes: `audience`, else the URL itself.
    pub audience: String,
    pub scopes_supported: Option<Vec<String>>,
    pub name: Option<String>,
    pub documentation: Option<String>,
    /// Where the gateway serves the document: the well-known path with the resource's path after it
    /// (RFC 9728 section 3.1).
    pub metadata_path: String,
    /// The document's absolute URL, for `resource_metadata` in challenges.
    pub metadata_url: String,
    /// The metadata document, rendered once by the configuration ([`metadata_document`]).
    pub document: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    resource: String,
    audience: Option<String>,
    scopes_supported: Option<Vec<String>>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
}

/// Parses and validates `RESOURCES`: a JSON array of resources. Errors name the entry.
pub fn parse_resources(json: &str) -> Result<Vec<Resource>, String> {
    let raw = match crate::jose::json::parse_strict(json.as_bytes()) {
        Ok(Value::Array(list)) => list,
        Ok(_) => return Err("is not a JSON array of resources".into()),
        Err(e) => return Err(format!("is not a valid JSON array of resources: {e}")),
    };
    let mut resources: Vec<Resource> = Vec::with_capacity(raw.len());
    for (i, value) in raw.into_iter().enumerate() {
        let name = match value.get("resource").and_then(Value::as_str) {
            Some(url) => format!("entry {} ({url})", i + 1),
            None => format!("entry {}", i + 1),
        };
        let resource = serde_json::from_value::<RawResource>(value)
            .map_err(|e| e.to_string())
            .and_then(validate)
            .map_err(|reason| format!("{name}: {reason}"))?;
        if let Some(j) = resources
            .iter()
            .position(|r| r.url == resource.url || r.metadata_path == resource.metadata_path)
        {
            return Err(format!(
                "{name}: declares the same resource (or metadata URL path) as entry {}",
                j + 1
            ));
        }
        resources.push(resource);
    }
    Ok(resources)
}

fn validate(raw: RawResource) -> Result<Resource, String> {
    let (origin, path) = resource_url(&raw.resource)?;
    let audience = match raw.audience {
        Some(a) if a.trim().is_empty() => return Err("audience must not be empty".into()),
        Some(a) => a,
        None => raw.resource.clone(),
    };
    let scopes_supported = match raw.scopes_supported {
        Some(list) if list.is_empty() => return Err("scopes_supported must not be empty".into()),
        Some(list) => Some(super::routes::scope_names(list)?),
        None => None,
    };
    if raw
        .resource_name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err("resource_name must not be empty".into());
    }
    if let Some(doc) = &raw.resource_documentation {
        resource_url(doc).map_err(|reason| format!("resource_documentation {reason}"))?;
    }
    // RFC 9728 section 3.1: the well-known segment goes between the host and the path; a path of `/`
    // alone is dropped with the slash.
    let suffix = if path == "/" { "" } else { path };
    let metadata_path = format!("{WELL_KNOWN}{suffix}");
    Ok(Resource {
        metadata_url: format!("{origin}{metadata_path}"),
        metadata_path,
        url: raw.resource,
        audience,
        scopes_supported,
        name: raw.resource_name,
        documentation: raw.resource_documentation,
        document: String::new(),
    })
}

/// Checks an absolute `https` URL (`http` only for a loopback host) without query or fragment; returns
/// its `scheme://authority` and its path (`/` when empty).
fn resource_url(url: &str) -> Result<(&str, &str), String> {
    const SHAPE: &str =
        "must be an absolute https URL (http only for localhost, 127.0.0.1 or [::1])";
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\')
    {
        return Err(format!("{SHAPE}, without spaces, quotes or controls"));
    }
    let (scheme, rest) = split_scheme(url).ok_or(SHAPE)?;
    let (authority, path) = split_authority(rest);
    let host = Authority::parse(authority).ok_or(SHAPE)?.host;
    if scheme == Scheme::Http && !is_loopback(host) {
        return Err(SHAPE.into());
    }
    if path.contains(['?', '#']) {
        return Err("must have no query or fragment".into());
    }
    let origin = &url[..url.len() - path.len()];
    Ok((origin, if path.is_empty() { "/" } else { path }))
}

/// The metadata document of a resource (RFC 9728 section 2, README "MCP servers"). `route_scopes` are the
/// scopes its routes and their JSON-RPC rules require, advertised when `scopes_supported` is not
/// configured.
pub fn metadata_document(
    resource: &Resource,
    issuers: &[&str],
    mode: DpopMode,
    route_scopes: &[&str],
) -> String {
    let mut doc = json!({
        "resource": resource.url,
        "authorization_servers": issuers,
        "bearer_methods_supported": ["header"],
    });
    let scopes: Vec<&str> = match &resource.scopes_supported {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => route_scopes.to_vec(),
    };
    if !scopes.is_empty() {
        doc["scopes_supported"] = json!(scopes);
    }
    if let Some(name) = &resource.name {
        doc["resource_name"] = json!(name);
    }
    if let Some(documentation) = &resource.documentation {
        doc["resource_documentation"] = json!(documentation);
    }
    if mode != DpopMode::Disabled {
        let algs: Vec<&str> = PROOF_ALGS.split(' ').collect();
        doc["dpop_signing_alg_values_supported"] = json!(algs);
    }
    if mode == DpopMode::Required {
        doc["dpop_bound_access_tokens_required"] = json!(true);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Resource {
        parse_resources(json).unwrap().remove(0)
    }

    #[test]
    fn metadata_paths_insert_the_well_known_segment() {
        for (url, path, full) in [
            (
                "https://mcp.example.com/mcp",
                "/.well-known/oauth-protected-resource/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://mcp.example.com",
                "/.well-known/oauth-protected-resource",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://mcp.example.com/",
                "/.well-known/oauth-protected-resource",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://h:8443/a/b/",
                "/.well-known/oauth-protected-resource/a/b/",
                "https://h:8443/.well-known/oauth-protected-resource/a/b/",
            ),
            (
                "http://127.0.0.1:8787/mcp",
                "/.well-known/oauth-protected-resource/mcp",
                "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            let r = one(&format!(r#"[{{"resource": "{url}"}}]"#));
            assert_eq!(
                (r.metadata_path.as_str(), r.metadata_url.as_str()),
                (path, full)
            );
            assert_eq!((r.url.as_str(), r.audience.as_str()), (url, url));
        }
    }

    #[test]
    fn invalid_resources_name_the_entry() {
        for (json, expected) in [
            ("{}", "is not a JSON array of resources"),
            ("[", "is not a valid JSON array"),
            (r#"[{"audience": "a"}]"#, "entry 1: missing field `resource`"),
            (r#"[{"resource": "http://mcp.example.com/mcp"}]"#, "entry 1 (http://mcp.example.com/mcp): must be an absolute https URL"),
            (r#"[{"resource": "/mcp"}]"#, "must be an absolute https URL"),
            (r#"[{"resource": "https://"}]"#, "must be an absolute https URL"),
            (r#"[{"resource": "https://u@h/mcp"}]"#, "must be an absolute https URL"),
            (r#"[{"resource": "https://h/mcp?x=1"}]"#, "entry 1 (https://h/mcp?x=1): must have no query or fragment"),
            (r#"[{"resource": "https://h/mcp#f"}]"#, "must have no query or fragment"),
            (r#"[{"resource": "https://h/a b"}]"#, "without spaces"),
            (r#"[{"resource": "https://h/mcp", "extra": 1}]"#, "unknown field `extra`"),
            (r#"[{"resource": "https://h/mcp", "audience": " "}]"#, "audience must not be empty"),
            (r#"[{"resource": "https://h/mcp", "scopes_supported": []}]"#, "scopes_supported must not be empty"),
            (r#"[{"resource": "https://h/mcp", "scopes_supported": ["a b"]}]"#, "contains a space"),
            (r#"[{"resource": "https://h/mcp", "resource_name": ""}]"#, "resource_name must not be empty"),
            (r#"[{"resource": "https://h/mcp", "resource_documentation": "ftp://h/doc"}]"#, "resource_documentation must be an absolute https URL"),
            (r#"[{"resource": "https://h/a"}, {"resource": "https://h/a"}]"#, "entry 2 (https://h/a): declares the same resource"),
            (r#"[{"resource": "https://h/a"}, {"resource": "https://other/a"}]"#, "entry 2 (https://other/a): declares the same resource (or metadata URL path) as entry 1"),
            (r#"[{"resource": "https://h/a", "resource": "https://h/b"}]"#, "duplicate member name"),
        ] {
            let err = parse_resources(json).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn metadata_members_follow_the_configuration() {
        let r = one(
            r#"[{"resource": "https://mcp.example.com/mcp", "audience": "https://api",
                 "resource_name": "Demo", "resource_documentation": "https://docs.example.com/mcp"}]"#,
        );
        assert_eq!(r.audience, "https://api");
        let doc = |mode, scopes: &[&str]| -> Value {
            serde_json::from_str(&metadata_document(
                &r,
                &["https://t.auth0.com/"],
                mode,
                scopes,
            ))
            .unwrap()
        };
        assert_eq!(
            doc(DpopMode::Allowed, &["a", "b"]),
            json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://t.auth0.com/"],
                "scopes_supported": ["a", "b"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Demo",
                "resource_documentation": "https://docs.example.com/mcp",
                "dpop_signing_alg_values_supported": ["ES256"],
            })
        );
        let required = doc(DpopMode::Required, &[]);
        assert_eq!(required["dpop_bound_access_tokens_required"], json!(true));
        assert!(required.get("scopes_supported").is_none());
        let disabled = doc(DpopMode::Disabled, &["a"]);
        assert!(disabled.get("dpop_signing_alg_values_supported").is_none());
        assert!(disabled.get("dpop_bound_access_tokens_required").is_none());

        let configured = one(r#"[{"resource": "https://h", "scopes_supported": ["x"]}]"#);
        let doc: Value = serde_json::from_str(&metadata_document(
            &configured,
            &["https://a/", "https://b/"],
            DpopMode::Allowed,
            &["a"],
        ))
        .unwrap();
        assert_eq!(doc["scopes_supported"], json!(["x"]));
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://a/", "https://b/"])
        );
        assert!(doc.get("resource_name").is_none());
    }
}
