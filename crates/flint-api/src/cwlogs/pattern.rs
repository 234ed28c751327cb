//! CloudWatch Logs filter patterns, parsed once and matched against each message. Pure.
//!
//! Supported: terms (every one must occur, case-sensitive), quoted phrases, `?term`
//! alternatives (any of them), `-term` exclusions, and JSON patterns
//! `{ $.a.b = "x" }`, `{ $.n > 100 }`, `!=`, `<`, `<=`, `>=`, `*` wildcards in string
//! values, `&&` / `||` and parentheses; space-delimited `[ip, user, ..., status=4*]`. An
//! empty pattern matches everything.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    All,
    /// Required terms, optional terms (`?`), excluded terms (`-`).
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
    Json(Expr),
    /// `[ip, user, ..., status=4*, size>1000]`: the message's space-delimited fields.
    Fields(Vec<Field>),
}

/// One field of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A named field with an optional condition on its value.
    Named(Option<(Op, Lit)>),
    /// `...`: any number of fields.
    Rest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp {
        path: Vec<String>,
        op: Op,
        value: Lit,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
}

/// The pattern is not valid filter-pattern syntax.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Invalid filter pattern")]
pub struct InvalidPattern;

pub fn parse(src: &str) -> Result<Pattern, InvalidPattern> {
    let s = src.trim();
    if s.is_empty() {
        return Ok(Pattern::All);
    }
    if let Some(inner) = s.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or(InvalidPattern)?;
        let mut p = JsonParser {
            s: inner.as_bytes(),
            i: 0,
        };
        let e = p.or()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(InvalidPattern);
        }
        return Ok(Pattern::Json(e));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(InvalidPattern)?;
        return inner
            .split(',')
            .map(field)
            .collect::<Result<_, _>>()
            .map(Pattern::Fields);
    }
    let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let kind = match b[i] {
            b'?' => {
                i += 1;
                1
            }
            b'-' => {
                i += 1;
                2
            }
            _ => 0,
        };
        let term = if b.get(i) == Some(&b'"') {
            let end = s[i + 1..].find('"').ok_or(InvalidPattern)? + i + 1;
            let t = s[i + 1..end].to_string();
            i = end + 1;
            t
        } else {
            let end = s[i..].find([' ', '\t']).map_or(b.len(), |e| e + i);
            let t = s[i..end].to_string();
            i = end;
            t
        };
        if term.is_empty() || term.contains(['{', '}']) {
            return Err(InvalidPattern);
        }
        match kind {
            1 => any.push(term),
            2 => none.push(term),
            _ => all.push(term),
        }
    }
    Ok(Pattern::Terms { all, any, none })
}

impl Pattern {
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            Pattern::Fields(fields) => fields_match(fields, &split_fields(message)),
            Pattern::Json(e) => match serde_json::from_str::<Value>(message.trim()) {
                Ok(v) => e.eval(&v),
                Err(_) => false,
            },
        }
    }
}

impl Expr {
    fn eval(&self, v: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.eval(v) && b.eval(v),
            Expr::Or(a, b) => a.eval(v) || b.eval(v),
            Expr::Cmp { path, op, value } => {
                let mut cur = v;
                for seg in path {
                    cur = match cur {
                        Value::Object(m) => match m.get(seg) {
                            Some(x) => x,
                            None => return false,
                        },
                        Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                            Some(x) => x,
                            None => return false,
                        },
                        _ => return false,
                    };
                }
                compare(cur, *op, value)
            }
        }
    }
}

fn compare(v: &Value, op: Op, lit: &Lit) -> bool {
    match lit {
        Lit::Num(n) => {
            let Some(x) = v.as_f64() else { return false };
            match op {
                Op::Eq => x == *n,
                Op::Ne => x != *n,
                Op::Lt => x < *n,
                Op::Le => x <= *n,
                Op::Gt => x > *n,
                Op::Ge => x >= *n,
            }
        }
        Lit::Str(p) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".into(),
                Value::Number(n) => n.to_string(),
                _ => return false,
            };
            match op {
                Op::Eq => wildcard(p, &text),
                Op::Ne => !wildcard(p, &text),
                _ => false,
            }
        }
    }
}

/// One field of `[...]`: `name`, `...`, or `name<op>value`.
fn field(src: &str) -> Result<Field, InvalidPattern> {
    let f = src.trim();
    if f == "..." {
        return Ok(Field::Rest);
    }
    let (name, cond) = match f.find(['=', '!', '<', '>']) {
        None => (f, None),
        Some(i) => (&f[..i], Some(&f[i..])),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(InvalidPattern);
    }
    let Some(cond) = cond else {
        return Ok(Field::Named(None));
    };
    let (op, rest) = [
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .into_iter()
    .find_map(|(t, op)| cond.strip_prefix(t).map(|r| (op, r.trim())))
    .ok_or(InvalidPattern)?;
    if rest.is_empty() {
        return Err(InvalidPattern);
    }
    let lit = if let Some(q) = rest.strip_prefix('"') {
        Lit::Str(q.strip_suffix('"').ok_or(InvalidPattern)?.to_string())
    } else {
        match rest.parse::<f64>() {
            Ok(n) => Lit::Num(n),
            Err(_) => Lit::Str(rest.to_string()),
        }
    };
    if matches!(lit, Lit::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
        return Err(InvalidPattern);
    }
    Ok(Field::Named(Some((op, lit))))
}

/// A message's space-delimited fields: `"..."` and `[...]` are one field each (without
/// their quotes or brackets).
fn split_fields(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = message.trim();
    while !rest.is_empty() {
        let close = match rest.as_bytes()[0] {
            b'"' => Some('"'),
            b'[' => Some(']'),
            _ => None,
        };
        let grouped =
            close.and_then(|c| rest[1..].find(c).map(|e| (&rest[1..e + 1], &rest[e + 2..])));
        let (field, after) = grouped.unwrap_or_else(|| {
            let e = rest.find(' ').unwrap_or(rest.len());
            (&rest[..e], &rest[e..])
        });
        out.push(field);
        rest = after.trim_start();
    }
    out
}

fn fields_match(fields: &[Field], values: &[&str]) -> bool {
    match fields.split_first() {
        None => values.is_empty(),
        Some((Field::Rest, more)) => (0..=values.len()).any(|k| fields_match(more, &values[k..])),
        Some((Field::Named(cond), more)) => match values.split_first() {
            None => false,
            Some((v, vs)) => {
                let ok = match cond {
                    None => true,
                    Some((op, lit @ Lit::Num(_))) => v
                        .parse::<f64>()
                        .is_ok_and(|x| compare(&serde_json::json!(x), *op, lit)),
                    Some((op, lit)) => compare(&Value::String((*v).to_string()), *op, lit),
                };
                ok && fields_match(more, vs)
            }
        },
    }
}

/// `*` matches any run of characters; everything else literally.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == last {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, InvalidPattern> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, InvalidPattern> {
        let mut e = self.atom()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.atom()?));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, InvalidPattern> {
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err(InvalidPattern);
            }
            return Ok(e);
        }
        if !self.eat("$") {
            return Err(InvalidPattern);
        }
        let mut path = Vec::new();
        loop {
            if self.s.get(self.i) == Some(&b'.') {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || b"_-@".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(InvalidPattern);
                }
                path.push(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
            } else if self.s.get(self.i) == Some(&b'[') {
                let end = self.s[self.i..]
                    .iter()
                    .position(|b| *b == b']')
                    .ok_or(InvalidPattern)?
                    + self.i;
                path.push(String::from_utf8_lossy(&self.s[self.i + 1..end]).into_owned());
                self.i = end + 1;
            } else {
                break;
            }
        }
        if path.is_empty() {
            return Err(InvalidPattern);
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return Err(InvalidPattern);
        };
        self.ws();
        let value = if self.s.get(self.i) == Some(&b'"') {
            let end = self.s[self.i + 1..]
                .iter()
                .position(|b| *b == b'"')
                .ok_or(InvalidPattern)?
                + self.i
                + 1;
            let v = String::from_utf8_lossy(&self.s[self.i + 1..end]).into_owned();
            self.i = end + 1;
            Lit::Str(v)
        } else {
            let start = self.i;
            while self.i < self.s.len()
                && !self.s[self.i].is_ascii_whitespace()
                && !b"&|)".contains(&self.s[self.i])
            {
                self.i += 1;
            }
            let word = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| InvalidPattern)?;
            if word.is_empty() {
                return Err(InvalidPattern);
            }
            match word.parse::<f64>() {
                Ok(n) => Lit::Num(n),
                Err(_) => Lit::Str(word.to_string()),
            }
        };
        if matches!(value, Lit::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(InvalidPattern);
        }
        Ok(Expr::Cmp { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        parse(p).unwrap().matches(msg)
    }

    #[test]
    fn terms_all_must_match_case_sensitively() {
        assert!(m("ERROR timeout", "ERROR: a timeout happened"));
        assert!(!m("ERROR timeout", "ERROR: all fine"));
        assert!(!m("error", "ERROR"));
        assert!(m("", "anything"));
    }

    #[test]
    fn quoted_phrases_optional_and_excluded_terms() {
        assert!(m("\"Duration: 1\"", "REPORT Duration: 1.2 ms"));
        assert!(!m("\"Duration: 1\"", "Duration 1"));
        assert!(m("?START ?END", "END RequestId: x"));
        assert!(!m("?START ?END", "REPORT RequestId: x"));
        assert!(m("RequestId -REPORT", "START RequestId: x"));
        assert!(!m("RequestId -REPORT", "REPORT RequestId: x"));
    }

    #[test]
    fn json_patterns() {
        let msg = r#"{"level":"ERROR","latency":150,"user":{"name":"alice"},"ok":true}"#;
        assert!(m(r#"{ $.level = "ERROR" }"#, msg));
        assert!(!m(r#"{ $.level = "INFO" }"#, msg));
        assert!(m("{ $.latency > 100 }", msg));
        assert!(!m("{ $.latency < 100 }", msg));
        assert!(m("{ $.latency >= 150 && $.user.name = \"al*\" }", msg));
        assert!(m("{ $.latency < 1 || $.ok = true }", msg));
        assert!(m(
            "{ ($.latency < 1 || $.level != \"INFO\") && $.user.name = *ice }",
            msg
        ));
        assert!(!m(r#"{ $.missing = "x" }"#, msg));
        assert!(!m(r#"{ $.level = "ERROR" }"#, "not json ERROR"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "{ $.a = }",
            "{ level = 1 }",
            "{ $.a > \"x\" }",
            "\"open",
            "{ $.a = 1",
            "[a, b",
            "[a, b>x]",
            "[a b]",
        ] {
            assert_eq!(parse(p), Err(InvalidPattern), "{p}");
        }
    }

    #[test]
    fn space_delimited_patterns() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326"#;
        assert!(m("[ip, id, user, time, request, status, size]", line));
        assert!(!m("[ip, id, user, time, request, status]", line));
        assert!(m("[ip, ..., status=404, size]", line));
        assert!(m("[ip, ..., status=4*, size>2000]", line));
        assert!(!m("[ip, ..., status=4*, size>3000]", line));
        assert!(m("[ip=127.0.0.1, ...]", line));
        assert!(m("[..., request=\"GET *\", status!=200, size]", line));
        assert!(!m("[ip, user=bob, ...]", line));
        assert_eq!(split_fields(line)[3], "10/Oct/2000:13:25:15 -0700");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("a*c", "abd"));
        assert!(wildcard("*b*", "abc"));
    }
}
