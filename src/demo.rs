//! The demo endpoints of Auth0's API quickstarts (README "Features", Serve mode), served by the gateway itself when
//! no origin is configured.

use serde_json::{json, Value};

use crate::gateway::Identity;

/// The body for a demo path, or `None` when the path is not a demo endpoint.
pub fn demo_response(path: &str, identity: Option<&Identity>) -> Option<Value> {
    let message = match path {
        "/api/public" => {
            "Hello from a public endpoint! You don't need to be authenticated to see this."
        }
        "/api/private" => {
            "Hello from a private endpoint! You need to be authenticated to see this."
        }
        "/api/private-scoped" => {
            "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
        }
        _ => return None,
    };
    let mut body = json!({ "message": message });
    if let Some(sub) = identity.and_then(|i| i.claims.sub.as_deref()) {
        body["user_id"] = Value::String(sub.to_owned());
    }
    Some(body)
}
