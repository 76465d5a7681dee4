//! The demo endpoints of Auth0's API quickstarts (README "Features", Serve mode), served by the gateway itself when
//! no origin is configured.

use std::borrow::Cow;

use crate::gateway::Identity;

/// A demo endpoint's message, with its whole body for an anonymous request.
macro_rules! message {
    ($text:literal) => {
        ($text, concat!(r#"{"message":""#, $text, r#""}"#))
    };
}

/// The JSON body for a demo path, or `None` when the path is not a demo endpoint.
///
/// Written directly rather than through a `serde_json::Value`: the object is always the message (plain
/// ASCII, nothing to escape) and, for an authenticated request, the `sub` claim, escaped by serde_json.
/// Without a `sub`, the body is a constant.
pub fn demo_response(path: &str, identity: Option<&Identity>) -> Option<Cow<'static, str>> {
    let (message, anonymous) = match path {
        "/api/public" => {
            message!("Hello from a public endpoint! You don't need to be authenticated to see this.")
        }
        "/api/private" => {
            message!("Hello from a private endpoint! You need to be authenticated to see this.")
        }
        "/api/private-scoped" => message!(
            "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
        ),
        _ => return None,
    };
    let Some(sub) = identity.and_then(|i| i.claims.sub.as_deref()) else {
        return Some(Cow::Borrowed(anonymous));
    };
    let mut body = String::with_capacity(message.len() + sub.len() + 32);
    body.push_str(r#"{"message":""#);
    body.push_str(message);
    body.push_str(r#"","user_id":"#);
    // Serialising a string cannot fail; `None` would only drop the body to a 404.
    body.push_str(&serde_json::to_string(sub).ok()?);
    body.push('}');
    Some(Cow::Owned(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::authorization::Scheme;
    use crate::jose::token::Claims;
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn parsed(path: &str, sub: Option<&str>) -> Value {
        let identity = sub.map(|sub| Identity {
            scheme: Scheme::Bearer,
            claims: Arc::new(Claims::from_all(json!({ "sub": sub }))),
        });
        serde_json::from_str(&demo_response(path, identity.as_ref()).unwrap()).unwrap()
    }

    #[test]
    fn bodies_are_the_quickstart_objects() {
        assert_eq!(
            parsed("/api/public", None),
            json!({"message": "Hello from a public endpoint! You don't need to be authenticated to see this."})
        );
        for sub in [
            "auth0|abc",
            "quote \" back \\ slash",
            "ctl \u{1}\n",
            "é ✓ \u{1F600}",
        ] {
            let body = parsed("/api/private-scoped", Some(sub));
            assert_eq!(body["user_id"], json!(sub));
            assert_eq!(body.as_object().unwrap().len(), 2);
        }
        assert_eq!(parsed("/api/private", None).as_object().unwrap().len(), 1);
        assert!(demo_response("/api/other", None).is_none());
    }
}
