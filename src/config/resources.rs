//! `RESOURCES` (README "MCP servers"): the protected resources, and their metadata documents, rendered
//! once per isolate from the configuration.

use super::settings::Settings;
use super::{invalid, names, ConfigError};
use crate::http::authorization::DpopMode;
use crate::idp::Issuer;
use crate::out_of_line::apart;
use crate::policy::resources::{metadata_document, parse_resources};
use crate::policy::{Resource, RouteTable};

/// The parsing and the rendering below are kept apart (`src/out_of_line.rs`): an isolate without protected
/// resources never compiles them.
pub(super) fn resources(s: &Settings) -> Result<Vec<Resource>, ConfigError> {
    match s.optional(names::RESOURCES) {
        None => Ok(Vec::new()),
        Some(json) => {
            apart(|| parse_resources(&json)).map_err(|reason| invalid(names::RESOURCES, reason))
        }
    }
}

/// Renders each resource's document; without configured `scopes_supported`, it lists every scope its
/// routes require, each once.
pub(super) fn render_documents(
    resources: &mut [Resource],
    issuers: &[Issuer],
    mode: DpopMode,
    routes: &RouteTable,
) {
    if !resources.is_empty() {
        apart(|| render_each(resources, issuers, mode, routes));
    }
}

fn render_each(
    resources: &mut [Resource],
    issuers: &[Issuer],
    mode: DpopMode,
    routes: &RouteTable,
) {
    let issuers: Vec<&str> = issuers.iter().map(|i| i.url.as_str()).collect();
    for (index, resource) in resources.iter_mut().enumerate() {
        let mut scopes: Vec<&str> = Vec::new();
        for rule in routes.rules().iter().filter(|r| r.resource == Some(index)) {
            for scope in rule.all_scopes() {
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
        }
        resource.document = metadata_document(resource, &issuers, mode, &scopes);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{config, BASE};
    use serde_json::{json, Value};

    const RESOURCES: &str = r#"[{"resource": "https://mcp.example.com/mcp"},
                                {"resource": "https://mcp.example.com/other", "audience": "https://other-api"}]"#;

    #[test]
    fn routes_join_declared_resources_and_take_their_audience() {
        let routes = r#"[{"path": "/mcp", "scopes": ["mcp:use"], "resource": "https://mcp.example.com/mcp"},
                         {"path": "/mcp/admin", "scopes": ["mcp:admin", "mcp:use"], "resource": "https://mcp.example.com/mcp"},
                         {"path": "/other", "auth": "required", "resource": "https://mcp.example.com/other"},
                         {"path": "/meta", "auth": "none", "resource": "https://mcp.example.com/other"}]"#;
        let mut vars = vec![("AUTH0_DOMAIN", "t.auth0.com")];
        vars.extend([("RESOURCES", RESOURCES), ("ROUTES", routes)]);
        // Every token route has its resource's audience: AUTH0_AUDIENCE is not needed.
        let c = config(&vars).unwrap();
        let rule = |path| c.routes.find("GET", path).unwrap();
        assert_eq!(rule("/mcp").resource, Some(0));
        assert_eq!(
            rule("/mcp").audiences.as_deref(),
            Some(&["https://mcp.example.com/mcp".to_owned()][..])
        );
        assert_eq!(
            rule("/other").audiences.as_deref(),
            Some(&["https://other-api".to_owned()][..])
        );
        assert_eq!(
            (rule("/meta").resource, &rule("/meta").audiences),
            (Some(1), &None)
        );
        let doc: Value = serde_json::from_str(&c.resources[0].document).unwrap();
        assert_eq!(doc["scopes_supported"], json!(["mcp:use", "mcp:admin"]));
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://t.auth0.com/"])
        );
        let other: Value = serde_json::from_str(&c.resources[1].document).unwrap();
        assert!(other.get("scopes_supported").is_none());
    }

    #[test]
    fn errors_name_the_setting_and_the_entry() {
        for (resources, routes, expected) in [
            (
                RESOURCES,
                r#"[{"path": "/x", "auth": "required", "resource": "https://mcp.example.com/nope"}]"#,
                "ROUTES rule 1 (/x): resource \"https://mcp.example.com/nope\" is not declared in RESOURCES",
            ),
            (
                RESOURCES,
                r#"[{"path": "/x", "auth": "required", "audience": "a", "resource": "https://mcp.example.com/mcp"}]"#,
                "ROUTES rule 1 (/x): has both audience and resource",
            ),
            (
                r#"[{"resource": "https://mcp.example.com/mcp"}, {"resource": "http://evil.example/mcp"}]"#,
                r#"[{"path": "/x", "auth": "none"}]"#,
                "RESOURCES entry 2 (http://evil.example/mcp): must be an absolute https URL",
            ),
        ] {
            let mut vars = BASE.to_vec();
            vars.extend([("RESOURCES", resources), ("ROUTES", routes)]);
            let e = config(&vars).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e}");
        }
        // Without RESOURCES, naming a resource is an error too.
        let mut vars = BASE.to_vec();
        vars.push((
            "ROUTES",
            r#"[{"path": "/x", "auth": "required", "resource": "https://h/mcp"}]"#,
        ));
        assert_eq!(config(&vars).unwrap_err().setting, "ROUTES");
    }
}
