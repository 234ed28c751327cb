//! Why a request is refused, as AWS says it.

/// Why a request is refused. Every variant is a 403 with AWS's code and
/// message; where a message was confirmed from AWS answers quoted in public
/// issue threads, the variant says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature at all. Lambda's answer to an unsigned request (403
    /// `MissingAuthenticationTokenException`, `Missing Authentication
    /// Token`), as quoted in brefphp/bref#1250 for `.../invocations`.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// A signature with missing or malformed parts. Messages as AWS words
    /// them (aws/chalice#828, aws-appsync-sdk-js#702, cloud9-sync#10).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key is unknown or revoked (aws: 403
    /// `UnrecognizedClientException` for Lambda DeleteFunction, iamlive#58).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match (the message of sigv4a-signing-examples#5).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// Expired, not yet valid, or scoped to another region/service/date
    /// (`Signature expired: ... is now earlier than ... (... - 5 min.)`,
    /// aws-sdk-js#254 and others).
    #[error("{0}")]
    InvalidSignature(String),
}

impl AuthError {
    /// The code sent in `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UnrecognizedClient => "UnrecognizedClientException",
            AuthError::SignatureDoesNotMatch | AuthError::InvalidSignature(_) => {
                "InvalidSignatureException"
            }
        }
    }

    /// Every authentication failure is a 403.
    pub fn status(&self) -> u16 {
        403
    }
}
