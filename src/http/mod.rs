//! What HTTP hands the gateway, checked before anything else: the request path, the `Authorization`
//! header, CORS, and the headers an authorised request carries to the origin.

pub(crate) mod authority;
pub mod authorization;
pub mod cors;
pub(crate) mod header;
pub mod path;
pub mod proxy;
