//! Recursive loop detection, as Lambda does it: through the `Lineage` field of the X-Ray
//! trace header.
//!
//! Each invocation's trace header (`Lambda-Runtime-Trace-Id`, which the runtime puts in
//! `_X_AMZN_TRACE_ID`) carries `Lineage=<function key>:<count>[|<key>:<count>...]`: for every
//! function the chain of requests has run, how many times. The AWS SDKs inside a function send
//! `_X_AMZN_TRACE_ID` back as `X-Amzn-Trace-Id` on their calls (botocore's
//! `add_recursion_detection_header`, the JS SDK's recursion-detection middleware), so when a
//! function invokes itself (synchronously, or with an `Event` that the queue keeps the header
//! of) the next invocation arrives with the count so far. A function that has already run
//! [`LOOP_LIMIT`] times in one chain is not run again unless its recursion config is `Allow`
//! (`RecursiveInvocationException` for a synchronous caller; an event goes to its failure
//! destination).
//!
//! The interface, pure and small so that the trace header's other fields (`Root`, `Parent`,
//! `Sampled`) stay someone else's business:
//!
//! * [`Lineage::of_header`]: the lineage a caller's `X-Amzn-Trace-Id` carries;
//! * [`Lineage::count`] / [`Lineage::after`]: the count of one function, and the lineage its
//!   invocation runs with (its own count one higher);
//! * [`with_lineage`]: a trace header with its `Lineage` field set to a lineage;
//! * [`carry_lineage`]: a new trace header that keeps the `Lineage` of the one it continues.

/// Lambda stops a chain that would run the same function more than this many times.
pub const LOOP_LIMIT: u32 = 16;

/// At most this many functions are tracked in one header (a bound on what a caller can make
/// flint parse and send on).
const MAX_ENTRIES: usize = 32;

const FIELD: &str = "Lineage";

/// The short key of a function in a lineage: 8 hex digits of a 32-bit FNV-1a hash of its
/// unqualified ARN (all versions and aliases of a function count as one, as a loop through
/// an alias is still a loop).
pub fn function_key(unqualified_arn: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in unqualified_arn.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// How many times each function has run in one chain of requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    entries: Vec<(String, u32)>,
}

impl Lineage {
    /// The lineage of a trace header (`...;Lineage=<key>:<count>|...;...`). Entries that do
    /// not parse are dropped; so is the whole field when it is not there.
    /// `<version>:<key>:<count>` entries are read too (the key and count are the last two).
    pub fn of_header(header: Option<&str>) -> Self {
        let Some(value) = header.and_then(field_value) else {
            return Self::default();
        };
        let mut entries: Vec<(String, u32)> = Vec::new();
        for entry in value.split('|') {
            let parts: Vec<&str> = entry.trim().split(':').collect();
            let (key, count) = match parts.as_slice() {
                [key, count] | [_, key, count] => (*key, *count),
                _ => continue,
            };
            let valid_key =
                !key.is_empty() && key.len() <= 16 && key.bytes().all(|b| b.is_ascii_hexdigit());
            let Ok(count) = count.parse::<u32>() else {
                continue;
            };
            if !valid_key || entries.len() >= MAX_ENTRIES {
                continue;
            }
            let key = key.to_ascii_lowercase();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => *c = (*c).max(count),
                None => entries.push((key, count)),
            }
        }
        Self { entries }
    }

    /// How many times the function of `key` has run in this chain.
    pub fn count(&self, key: &str) -> u32 {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, c)| *c)
    }

    /// Whether running the function of `key` once more would exceed [`LOOP_LIMIT`].
    pub fn exceeded_by(&self, key: &str) -> bool {
        self.count(key) >= LOOP_LIMIT
    }

    /// The lineage an invocation of the function of `key` runs with: its count one higher.
    pub fn after(&self, key: &str) -> Self {
        let mut next = self.clone();
        match next.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, c)) => *c = c.saturating_add(1),
            None => {
                if next.entries.len() >= MAX_ENTRIES {
                    next.entries.remove(0);
                }
                next.entries.push((key.to_string(), 1));
            }
        }
        next
    }

    /// The field's value: `<key>:<count>|...`.
    pub fn value(&self) -> String {
        self.entries
            .iter()
            .map(|(k, c)| format!("{k}:{c}"))
            .collect::<Vec<_>>()
            .join("|")
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The value of the `Lineage` field of a trace header, if it has one.
fn field_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|field| {
        let (k, v) = field.split_once('=')?;
        (k.trim() == FIELD).then(|| v.trim())
    })
}

/// `header` with its `Lineage` field replaced by `lineage` (appended when it had none,
/// removed when `lineage` is empty); every other field is kept as it was, in order.
pub fn with_lineage(header: &str, lineage: &Lineage) -> String {
    let mut fields: Vec<String> = header
        .split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .filter(|f| f.split_once('=').map(|(k, _)| k.trim()) != Some(FIELD))
        .map(str::to_string)
        .collect();
    if !lineage.is_empty() {
        fields.push(format!("{FIELD}={}", lineage.value()));
    }
    fields.join(";")
}

/// A new trace header (`into`, built for the invocation) that keeps the `Lineage` of the
/// header it continues (`from`).
pub fn carry_lineage(from: Option<&str>, into: &str) -> String {
    with_lineage(into, &Lineage::of_header(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn a_header_without_lineage_has_an_empty_one() {
        assert!(Lineage::of_header(None).is_empty());
        assert!(Lineage::of_header(Some(ROOT)).is_empty());
        assert!(Lineage::of_header(Some("")).is_empty());
        assert_eq!(Lineage::of_header(Some(ROOT)).count("a87bd80c"), 0);
    }

    #[test]
    fn entries_are_read_in_both_forms_and_bad_ones_dropped() {
        let h =
            format!("{ROOT};Lineage=a87bd80c:1|68fd508a:5|1:C512FBE3:2|zz:3|abc:x|:4|abcd;Self=1");
        let l = Lineage::of_header(Some(&h));
        assert_eq!(l.count("a87bd80c"), 1);
        assert_eq!(l.count("68fd508a"), 5);
        assert_eq!(l.count("c512fbe3"), 2);
        assert_eq!(l.value(), "a87bd80c:1|68fd508a:5|c512fbe3:2");
        // Fields in any order, with spaces.
        let l = Lineage::of_header(Some(" Lineage = 0000000a:16 ; Root=1-x"));
        assert_eq!(l.count("0000000a"), 16);
        assert!(l.exceeded_by("0000000a"));
        // A repeated key keeps the highest count (a caller cannot lower it by repeating).
        let l = Lineage::of_header(Some("Lineage=0000000a:16|0000000a:1"));
        assert_eq!(l.count("0000000a"), 16);
        // A count that does not fit is no count.
        assert!(Lineage::of_header(Some("Lineage=0000000a:99999999999")).is_empty());
    }

    #[test]
    fn each_invocation_counts_one_more_and_the_limit_is_sixteen() {
        let key = function_key("arn:aws:lambda:us-east-1:000000000000:function:loop");
        let other = function_key("arn:aws:lambda:us-east-1:000000000000:function:other");
        assert_eq!(key.len(), 8);
        assert_ne!(key, other);
        let mut l = Lineage::default().after(&other);
        for n in 1..=LOOP_LIMIT {
            assert!(!l.exceeded_by(&key), "invocation {n} runs");
            l = l.after(&key);
            assert_eq!(l.count(&key), n);
        }
        // Sixteen ran: the seventeenth is the one stopped.
        assert!(l.exceeded_by(&key));
        assert_eq!(l.count(&other), 1);
        assert_eq!(l.value(), format!("{other}:1|{key}:16"));
    }

    #[test]
    fn the_header_keeps_its_other_fields_and_gets_one_lineage() {
        let l = Lineage::default().after("0000000a");
        assert_eq!(with_lineage(ROOT, &l), format!("{ROOT};Lineage=0000000a:1"));
        let old = "Root=1-a;Lineage=0000000a:3;Sampled=0";
        assert_eq!(
            with_lineage(old, &l),
            "Root=1-a;Sampled=0;Lineage=0000000a:1"
        );
        assert_eq!(with_lineage("", &l), "Lineage=0000000a:1");
        assert_eq!(with_lineage(old, &Lineage::default()), "Root=1-a;Sampled=0");
        // A new header for the invocation keeps the lineage of the one it continues.
        assert_eq!(
            carry_lineage(Some(old), "Root=1-b;Parent=c;Sampled=1"),
            "Root=1-b;Parent=c;Sampled=1;Lineage=0000000a:3"
        );
        assert_eq!(carry_lineage(None, "Root=1-b"), "Root=1-b");
    }

    #[test]
    fn a_header_cannot_make_the_lineage_grow_without_bound() {
        let many: Vec<String> = (0..100).map(|i| format!("{i:08x}:1")).collect();
        let l = Lineage::of_header(Some(&format!("Lineage={}", many.join("|"))));
        assert_eq!(l.value().split('|').count(), MAX_ENTRIES);
        let next = l.after("ffffffff");
        assert_eq!(next.value().split('|').count(), MAX_ENTRIES);
        assert_eq!(next.count("ffffffff"), 1);
    }
}
