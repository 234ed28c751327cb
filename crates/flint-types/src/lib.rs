//! Lambda domain and wire types for flint.
//!
//! This crate owns everything that is *shape* rather than *behaviour*: the
//! JSON structures of the Lambda control-plane API, function identifiers and
//! ARNs, the validation rules AWS applies to each field, and the one total
//! mapping from a rejected request to AWS's error code, HTTP status and body.
//! It does no I/O so that every rule here is unit-testable and fuzzable.

pub mod error;
pub mod event_config;
pub mod function_settings;
pub mod function_url;
pub mod ident;
pub mod layers;
pub mod model;
pub mod policy;
pub mod timefmt;
pub mod validate;

pub use error::ApiError;
pub use ident::{FunctionRef, Qualifier, ResourceContext};
