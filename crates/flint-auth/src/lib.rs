//! Authentication of flint's own API.
//!
//! * [`sigv4`]: AWS Signature Version 4 verification as a pure function of
//!   the request, the body's hash, the clock and a key lookup (and the
//!   signer flint's CLI uses);
//! * [`keys`]: the operator's access keys, secrets encrypted at rest.

pub mod keys;
pub mod sigv4;

pub use keys::{KeyError, KeyInfo, KeyStore, NewKey};
pub use sigv4::AuthError;
