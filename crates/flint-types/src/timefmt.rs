//! Lambda's timestamp format: `2019-10-01T16:47:28.490+0000` (3-digit
//! milliseconds and a literal `+0000`, which is not RFC 3339).

use time::OffsetDateTime;
use time::macros::format_description;

/// Formats a UTC instant the way `LastModified` is formatted.
pub fn last_modified(at: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("a fixed format with only numeric parts always formats")
}

/// `LastModified` for now.
pub fn now() -> String {
    last_modified(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_lambda() {
        assert_eq!(
            last_modified(datetime!(2019-10-01 16:47:28.490 UTC)),
            "2019-10-01T16:47:28.490+0000"
        );
    }
}
