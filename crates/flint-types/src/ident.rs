//! Function identifiers: names, ARNs, partial ARNs and qualifiers.
//!
//! Every Lambda operation that names a function accepts the bare name, the
//! full ARN, the partial ARN `123456789012:function:name`, each optionally
//! followed by `:qualifier`. [`FunctionRef::parse`] turns all of them into
//! one shape so the domain code never looks at raw strings.

use crate::error::ApiError;
use std::fmt;

/// The model's pattern for function names in paths, quoted in validation errors.
/// (AWS's current one, as its recorded answers quote it: `eusc-` regions, `.` in
/// names, `$LATEST.PUBLISHED`.)
pub const FUNCTION_NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";
/// The pattern CreateFunction quotes for its `FunctionName`.
pub const CREATE_FUNCTION_NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";
/// The pattern AWS quotes for a `Qualifier` parameter.
pub const QUALIFIER_PATTERN: &str = "\\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";
/// The model's pattern for alias names.
pub const ALIAS_PATTERN: &str = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)";

/// Region and account that flint's ARNs are minted in (both are settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceContext {
    pub region: String,
    pub account: String,
}

impl Default for ResourceContext {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl ResourceContext {
    /// `arn:aws:lambda:<region>:<account>:function:<name>`
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, name
        )
    }

    /// The function ARN with `:<qualifier>` appended.
    pub fn qualified_arn(&self, name: &str, qualifier: &str) -> String {
        format!("{}:{}", self.function_arn(name), qualifier)
    }

    /// The execution-role ARN flint assumes when none matters.
    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, role)
    }
}

/// A version selector: `$LATEST`, a published version number, or an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Latest,
    Version(u64),
    Alias(String),
}

impl Qualifier {
    /// Parses a qualifier as it appears after `name:` or in `?Qualifier=`.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.is_empty() || raw.len() > 128 {
            return Err(if raw.is_empty() {
                ApiError::too_short(raw, "qualifier", 1)
            } else {
                ApiError::too_long(raw, "qualifier", 128)
            });
        }
        if raw == "$LATEST" {
            return Ok(Qualifier::Latest);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
        {
            return Err(ApiError::pattern(raw, "qualifier", QUALIFIER_PATTERN));
        }
        if raw.bytes().all(|b| b.is_ascii_digit()) {
            // A number too large for u64 can never name an existing version;
            // keep it as an alias-shaped miss rather than failing the parse.
            return Ok(raw
                .parse::<u64>()
                .map(Qualifier::Version)
                .unwrap_or_else(|_| Qualifier::Alias(raw.to_string())));
        }
        Ok(Qualifier::Alias(raw.to_string()))
    }

    pub fn is_latest(&self) -> bool {
        matches!(self, Qualifier::Latest)
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Latest => f.write_str("$LATEST"),
            Qualifier::Version(n) => write!(f, "{n}"),
            Qualifier::Alias(a) => f.write_str(a),
        }
    }
}

/// A function named by a request, with the qualifier it carried (if any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<Qualifier>,
}

/// Is `name` a valid function name (1–64 of `[a-zA-Z0-9-_]`)?
pub fn is_valid_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Is `name` a valid alias name (1–128 of `[a-zA-Z0-9-_]`, not all digits)?
pub fn is_valid_alias_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn is_region(s: &str) -> bool {
    // (eusc-)?[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d
    let s = s.strip_prefix("eusc-").unwrap_or(s);
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return false;
    }
    let two_lower = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase());
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |p: &str| p.len() == 1 && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [a, b, c] => two_lower(a) && lower(b) && digit(c),
        [a, g, b, c] => {
            two_lower(a) && (*g == "gov" || g.starts_with("iso")) && lower(b) && digit(c)
        }
        _ => false,
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl FunctionRef {
    /// Parses a function name, full ARN or partial ARN, each optionally
    /// followed by `:qualifier`. `max_len` is the operation's length limit
    /// (140 for most, 256 for the namespaced ones). Region and account in an
    /// ARN must be this server's: a foreign ARN names no function here.
    pub fn parse(raw: &str, max_len: usize, ctx: &ResourceContext) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::too_short(raw, "functionName", 1));
        }
        if raw.len() > max_len {
            return Err(ApiError::too_long(raw, "functionName", max_len));
        }
        let bad = || ApiError::pattern(raw, "functionName", FUNCTION_NAME_PATTERN);
        let parts: Vec<&str> = raw.split(':').collect();
        let (region, account, rest): (Option<&str>, Option<&str>, &[&str]) = match parts.as_slice()
        {
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                rest @ ..,
            ] if partition.starts_with("aws") => {
                if !is_region(region) || !is_account(account) {
                    return Err(bad());
                }
                (Some(*region), Some(*account), rest)
            }
            [account, "function", rest @ ..] if is_account(account) => (None, Some(*account), rest),
            ["function", rest @ ..] => (None, None, rest),
            rest => (None, None, rest),
        };
        let (name, qualifier) = match rest {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            // `arn:aws:lambda:<region>:<account>:function`: AWS reads the last
            // segment as the name (the `function:` prefix is optional).
            [] if region.is_some() => ("function", None),
            _ => return Err(bad()),
        };
        // A name longer than 64 characters matches AWS's pattern: it just names
        // no function (CreateFunction checks the length itself).
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
        // Within the name only `$LATEST` may carry a `$` (the pattern's
        // `(\$LATEST|[a-zA-Z0-9-_]+)`); `?Qualifier=` is laxer.
        let qualifier = match qualifier {
            None => None,
            Some(q)
                if q != "$LATEST"
                    && !q
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                return Err(bad());
            }
            Some(q) => Some(Qualifier::parse(q).map_err(|_| bad())?),
        };
        if let Some(r) = region.filter(|r| *r != ctx.region) {
            return Err(ApiError::ResourceNotFound(format!(
                "Functions from '{r}' are not reachable in this region ('{}')",
                ctx.region
            )));
        }
        if account.is_some_and(|a| a != ctx.account) {
            let arn = match &qualifier {
                Some(q) => ctx.qualified_arn(name, &q.to_string()),
                None => ctx.function_arn(name),
            };
            return Err(ApiError::function_not_found(&arn));
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier,
        })
    }

    /// Merges a `?Qualifier=` query value into the reference. AWS refuses a
    /// request whose two qualifiers disagree.
    pub fn with_query_qualifier(mut self, query: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = query else { return Ok(self) };
        let q = Qualifier::parse(raw)?;
        match &self.qualifier {
            Some(existing) if *existing != q => Err(ApiError::InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified qualifier."
                    .into(),
            )),
            _ => {
                self.qualifier = Some(q);
                Ok(self)
            }
        }
    }

    /// The ARN of this reference, qualified if it carries a qualifier.
    pub fn arn(&self, ctx: &ResourceContext) -> String {
        match &self.qualifier {
            Some(q) => ctx.qualified_arn(&self.name, &q.to_string()),
            None => ctx.function_arn(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ResourceContext {
        ResourceContext::default()
    }

    #[test]
    fn parses_every_accepted_form() {
        let plain = FunctionRef::parse("my-fn", 140, &ctx()).unwrap();
        assert_eq!(plain.name, "my-fn");
        assert_eq!(plain.qualifier, None);

        let q = FunctionRef::parse("my-fn:prod", 140, &ctx()).unwrap();
        assert_eq!(q.qualifier, Some(Qualifier::Alias("prod".into())));

        let full = FunctionRef::parse(
            "arn:aws:lambda:us-east-1:000000000000:function:my-fn:7",
            140,
            &ctx(),
        )
        .unwrap();
        assert_eq!(full.name, "my-fn");
        assert_eq!(full.qualifier, Some(Qualifier::Version(7)));

        let partial =
            FunctionRef::parse("000000000000:function:my-fn:$LATEST", 140, &ctx()).unwrap();
        assert_eq!(partial.qualifier, Some(Qualifier::Latest));
    }

    #[test]
    fn rejects_malformed_names_with_validation_errors() {
        for bad in [
            "a b",
            "a:b:c",
            "arn:aws:lambda:nowhere:000000000000:function:f",
            "f:q q",
            "é",
        ] {
            let e = FunctionRef::parse(bad, 140, &ctx()).unwrap_err();
            assert_eq!(e.code(), "ValidationException", "{bad}");
        }
        // AWS's recorded answers: '$LATES' inside an ARN breaks the pattern.
        let e = FunctionRef::parse(
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATES",
            140,
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        // ... while a 65-character name and an ARN without a name are lookups.
        let long = "a".repeat(65);
        assert_eq!(FunctionRef::parse(&long, 140, &ctx()).unwrap().name, long);
        let incomplete = FunctionRef::parse(
            "arn:aws:lambda:us-east-1:000000000000:function",
            140,
            &ctx(),
        );
        assert_eq!(incomplete.unwrap().name, "function");
        assert_eq!(
            FunctionRef::parse("", 140, &ctx()).unwrap_err().code(),
            "ValidationException"
        );
    }

    #[test]
    fn foreign_arns_name_no_function() {
        let e = FunctionRef::parse(
            "arn:aws:lambda:eu-west-1:000000000000:function:f",
            140,
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "ResourceNotFoundException");
        assert_eq!(
            e.to_string(),
            "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
        );
        let e = FunctionRef::parse("111111111111:function:f", 140, &ctx()).unwrap_err();
        assert_eq!(e.code(), "ResourceNotFoundException");
    }

    #[test]
    fn query_qualifier_must_agree() {
        let r = FunctionRef::parse("f:1", 140, &ctx()).unwrap();
        assert!(r.clone().with_query_qualifier(Some("1")).is_ok());
        let e = r.with_query_qualifier(Some("2")).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValueException");
        let r = FunctionRef::parse("f", 140, &ctx())
            .unwrap()
            .with_query_qualifier(Some("live"))
            .unwrap();
        assert_eq!(r.qualifier, Some(Qualifier::Alias("live".into())));
    }

    #[test]
    fn alias_names_cannot_be_numbers() {
        assert!(is_valid_alias_name("prod"));
        assert!(is_valid_alias_name("v1"));
        assert!(!is_valid_alias_name("12"));
        assert!(!is_valid_alias_name(""));
    }

    #[test]
    fn regions_are_checked() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(is_region("eusc-de-east-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("us-east-12"));
    }
}
