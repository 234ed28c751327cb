//! Reading a whole namespace one page at a time.

use crate::{Entry, Result, Transaction};

/// A cursor over every entry of one namespace, in key order, a page at a time.
///
/// It does not hold the transaction between pages, so the caller reads and writes through
/// the same transaction while paging (a nested scan of another namespace, deleting the
/// entries it visited). Each page starts after the last key of the one before, so what the
/// caller deletes behind the cursor does not disturb it; it ends at the first empty page.
///
/// ```
/// # use flint_store::{MetadataStore, Pages, SqliteStore};
/// let store = SqliteStore::in_memory().unwrap();
/// let mut tx = store.begin().unwrap();
/// tx.put("function", "a", b"1").unwrap();
/// let mut pages = Pages::new("function");
/// while let Some(page) = pages.next_page(&mut *tx).unwrap() {
///     for (key, value) in page {
///         assert_eq!((key.as_str(), value.as_slice()), ("a", &b"1"[..]));
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Pages<'a> {
    ns: &'a str,
    after: Option<String>,
    size: usize,
    done: bool,
}

impl<'a> Pages<'a> {
    /// Entries a page unless [`Pages::size`] says otherwise: large enough that paging costs
    /// little, small enough that a page of documents stays a small allocation.
    pub const DEFAULT_SIZE: usize = 500;

    /// From the first key of `ns`.
    pub fn new(ns: &'a str) -> Self {
        Self {
            ns,
            after: None,
            size: Self::DEFAULT_SIZE,
            done: false,
        }
    }

    /// Starts after `key` (a list's marker) instead; from the first key when `None`.
    pub fn after(mut self, key: Option<&str>) -> Self {
        self.after = key.map(str::to_string);
        self
    }

    /// At most `size` entries a page (0 reads nothing).
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The next page, never empty; `None` once the namespace is exhausted.
    pub fn next_page(&mut self, tx: &mut dyn Transaction) -> Result<Option<Vec<Entry>>> {
        if self.done {
            return Ok(None);
        }
        let page = tx.scan(self.ns, self.after.as_deref(), self.size)?;
        match page.last() {
            Some((last, _)) => {
                self.after = Some(last.clone());
                Ok(Some(page))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetadataStore, SqliteStore};

    fn keys(page: &[Entry]) -> Vec<&str> {
        page.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn filled(keys: &[&str]) -> SqliteStore {
        let store = SqliteStore::in_memory().unwrap();
        let mut tx = store.begin().unwrap();
        for k in keys {
            tx.put("ns", k, k.as_bytes()).unwrap();
        }
        // Neighbours that must never show up: another namespace, one that starts alike.
        tx.put("other", "b", b"x").unwrap();
        tx.put("ns2", "b", b"x").unwrap();
        tx.commit().unwrap();
        store
    }

    #[test]
    fn pages_cover_the_namespace_in_key_order_then_end() {
        let store = filled(&["e", "a", "g", "c", "b", "f", "d"]);
        let mut tx = store.begin().unwrap();
        let mut pages = Pages::new("ns").size(3);
        let mut seen = Vec::new();
        while let Some(page) = pages.next_page(&mut *tx).unwrap() {
            assert!(!page.is_empty() && page.len() <= 3, "{page:?}");
            seen.push(keys(&page).join(""));
        }
        assert_eq!(seen, ["abc", "def", "g"]);
        assert!(pages.next_page(&mut *tx).unwrap().is_none(), "stays ended");
    }

    #[test]
    fn values_come_with_their_keys() {
        let store = filled(&["a", "b"]);
        let mut tx = store.begin().unwrap();
        let page = Pages::new("ns").next_page(&mut *tx).unwrap().unwrap();
        assert_eq!(
            page,
            [
                ("a".to_string(), b"a".to_vec()),
                ("b".to_string(), b"b".to_vec())
            ]
        );
    }

    #[test]
    fn an_empty_namespace_has_no_page() {
        let store = filled(&[]);
        let mut tx = store.begin().unwrap();
        assert!(Pages::new("ns").next_page(&mut *tx).unwrap().is_none());
        assert!(Pages::new("none").next_page(&mut *tx).unwrap().is_none());
    }

    #[test]
    fn a_marker_starts_after_its_key() {
        let store = filled(&["a", "b", "c", "d"]);
        let mut tx = store.begin().unwrap();
        let mut pages = Pages::new("ns").after(Some("b")).size(10);
        assert_eq!(
            keys(&pages.next_page(&mut *tx).unwrap().unwrap()),
            ["c", "d"]
        );
        // A marker that is not a key starts at the next one.
        let mut pages = Pages::new("ns").after(Some("bb"));
        assert_eq!(
            keys(&pages.next_page(&mut *tx).unwrap().unwrap()),
            ["c", "d"]
        );
        let mut pages = Pages::new("ns").after(None).size(1);
        assert_eq!(keys(&pages.next_page(&mut *tx).unwrap().unwrap()), ["a"]);
    }

    #[test]
    fn size_zero_reads_nothing() {
        let store = filled(&["a"]);
        let mut tx = store.begin().unwrap();
        assert!(
            Pages::new("ns")
                .size(0)
                .next_page(&mut *tx)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_transaction_stays_usable_while_paging() {
        let store = filled(&["a", "b", "c", "d", "e"]);
        let mut tx = store.begin().unwrap();
        let mut pages = Pages::new("ns").size(2);
        let mut visited = Vec::new();
        while let Some(page) = pages.next_page(&mut *tx).unwrap() {
            for (k, _) in page {
                // Delete what was visited and write elsewhere, through the same transaction.
                assert!(tx.delete("ns", &k).unwrap());
                tx.put("copied", &k, b"").unwrap();
                visited.push(k);
            }
        }
        assert_eq!(visited, ["a", "b", "c", "d", "e"]);
        assert_eq!(tx.count("ns").unwrap(), 0);
        assert_eq!(tx.count("copied").unwrap(), 5);
    }
}
