//! axum extractors for what nearly every handler takes: the function named in the path
//! (with Lambda's length limit of the operation, and the `Qualifier` query where the
//! operation has one), a bounded JSON body, an invocation's payload and headers. Each step
//! is written once, here, with the answers AWS gives when it fails.

mod body;
mod function;
mod invoke;
mod path;
#[cfg(test)]
mod tests;

pub(crate) use body::{
    Bounded, JsonBody, Payload, function_payload, invalid_payload, utf8_error_message,
};
pub(crate) use function::{Function, QualifiedFunction, function_ref, function_segment};
pub(crate) use invoke::InvokeHeaders;
pub(crate) use path::Path;
