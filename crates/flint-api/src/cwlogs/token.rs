//! Paging tokens. GetLogEvents' are CloudWatch's shape, `f/<n>` forward and `b/<n>` backward,
//! where `n` is a position in the stream's events (forward: the next event to return;
//! backward: one past the last event of the earlier page); the other operations' `nextToken`
//! is the position of the next item. Positions count from the stream's oldest event kept.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Backward,
}

pub(crate) fn events_token(dir: Direction, pos: usize) -> String {
    match dir {
        Direction::Forward => format!("f/{pos:056}"),
        Direction::Backward => format!("b/{pos:056}"),
    }
}

pub(crate) fn parse_events_token(t: &str) -> Option<(Direction, usize)> {
    let (dir, n) = if let Some(n) = t.strip_prefix("f/") {
        (Direction::Forward, n)
    } else if let Some(n) = t.strip_prefix("b/") {
        (Direction::Backward, n)
    } else {
        return None;
    };
    Some((dir, n.parse().ok()?))
}

/// The window of a GetLogEvents page over `total` events: `(start, end)`.
pub(crate) fn window(
    total: usize,
    limit: usize,
    token: Option<(Direction, usize)>,
    from_head: bool,
) -> (usize, usize) {
    match token {
        Some((Direction::Forward, p)) => {
            let s = p.min(total);
            (s, (s + limit).min(total))
        }
        Some((Direction::Backward, p)) => {
            let e = p.min(total);
            (e.saturating_sub(limit), e)
        }
        None if from_head => (0, limit.min(total)),
        None => (total.saturating_sub(limit), total),
    }
}

pub(crate) fn next_token(pos: usize) -> String {
    format!("{pos:020}")
}

pub(crate) fn parse_next_token(t: &str) -> Option<usize> {
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for d in [Direction::Forward, Direction::Backward] {
            assert_eq!(parse_events_token(&events_token(d, 42)), Some((d, 42)));
        }
        assert_eq!(parse_events_token("x/1"), None);
        assert_eq!(parse_next_token(&next_token(7)), Some(7));
    }

    #[test]
    fn windows_page_like_cloudwatch() {
        // The default reads the newest events; from the head the oldest.
        assert_eq!(window(10, 3, None, false), (7, 10));
        assert_eq!(window(10, 3, None, true), (0, 3));
        // Forward from the end stays at the end (the same token comes back).
        assert_eq!(
            window(10, 3, Some((Direction::Forward, 10)), false),
            (10, 10)
        );
        assert_eq!(window(10, 3, Some((Direction::Forward, 8)), false), (8, 10));
        assert_eq!(window(10, 3, Some((Direction::Backward, 7)), false), (4, 7));
        assert_eq!(window(10, 3, Some((Direction::Backward, 2)), false), (0, 2));
        assert_eq!(window(10, 3, Some((Direction::Backward, 0)), false), (0, 0));
    }
}
