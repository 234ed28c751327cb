//! ListFunctions, and what every list of functions and versions shares: the `MaxItems` page
//! size and the opaque markers.

use crate::configuration::as_list_entry;
use crate::records::{self, FUNCTIONS, FunctionRecord, VersionRecord, versions_ns};
use crate::{ControlPlane, Result};
use base64::Engine;
use flint_store::{Pages, Transaction};
use flint_types::ApiError;
use flint_types::model::FunctionConfiguration;

/// Lambda returns at most 50 functions per ListFunctions page.
pub const LIST_PAGE_MAX: usize = 50;

/// One page of ListFunctions / ListVersionsByFunction.
#[derive(Debug, Clone)]
pub struct FunctionList {
    pub functions: Vec<FunctionConfiguration>,
    pub next_marker: Option<String>,
}

pub type VersionList = FunctionList;

impl ControlPlane {
    /// ListFunctions. With `all_versions`, each function's `$LATEST` is
    /// followed by its published versions.
    pub fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
        all_versions: bool,
    ) -> Result<FunctionList> {
        let limit = page_size(max_items)?.min(LIST_PAGE_MAX);
        let (start_name, start_version) = match marker {
            None => (None, None),
            Some(m) => {
                let (n, v) = decode_marker(m)?;
                (Some(n), v)
            }
        };
        let mut tx = self.meta.begin()?;
        let mut out = Vec::with_capacity(limit);
        let mut last_pos: Option<(String, Option<String>)> = None;
        // Versions of the function the marker stopped in the middle of.
        // A marker at a function's $LATEST ("" version) continues with all
        // of its versions.
        if let Some(name) = &start_name
            && all_versions
        {
            let after = start_version.as_deref().unwrap_or("");
            for (k, bytes) in tx.scan(&versions_ns(name), Some(after), limit)? {
                let v: VersionRecord = records::decode(&versions_ns(name), &k, &bytes)?;
                out.push(as_list_entry(v.config));
                last_pos = Some((name.clone(), Some(k)));
            }
        }
        let mut functions = Pages::new(FUNCTIONS)
            .after(start_name.as_deref())
            .size(limit);
        'outer: while out.len() < limit {
            let Some(page) = functions.next_page(&mut *tx)? else {
                break;
            };
            for (name, bytes) in page {
                let rec: FunctionRecord = records::decode(FUNCTIONS, &name, &bytes)?;
                if out.len() >= limit {
                    break 'outer;
                }
                out.push(as_list_entry(rec.latest));
                last_pos = Some((name.clone(), None));
                if all_versions {
                    // The versions that still fit on this page: one read, since a page
                    // shorter than the room left means there are no more.
                    let room = limit - out.len();
                    let vns = versions_ns(&name);
                    for (k, vbytes) in tx.scan(&vns, None, room)? {
                        let v: VersionRecord = records::decode(&vns, &k, &vbytes)?;
                        out.push(as_list_entry(v.config));
                        last_pos = Some((name.clone(), Some(k)));
                    }
                    if out.len() >= limit {
                        break 'outer;
                    }
                }
            }
        }
        let next_marker = if out.len() >= limit {
            last_pos
                .filter(|(name, version)| {
                    self.has_more(&mut *tx, name, version.as_deref(), all_versions)
                        .unwrap_or(true)
                })
                .map(|(n, v)| encode_marker(&n, v.as_deref()))
        } else {
            None
        };
        Ok(FunctionList {
            functions: out,
            next_marker,
        })
    }

    fn has_more(
        &self,
        tx: &mut dyn Transaction,
        name: &str,
        version: Option<&str>,
        all_versions: bool,
    ) -> Result<bool> {
        if all_versions
            && !tx
                .scan(&versions_ns(name), Some(version.unwrap_or("")), 1)?
                .is_empty()
        {
            return Ok(true);
        }
        Ok(!tx.scan(FUNCTIONS, Some(name), 1)?.is_empty())
    }
}

/// Validates `MaxItems` (1–10000) and turns it into a page size.
pub(crate) fn page_size(max_items: Option<i64>) -> Result<usize> {
    match max_items {
        None => Ok(usize::MAX),
        Some(n) if n < 1 => Err(ApiError::too_small(n, "maxItems", 1).into()),
        Some(n) if n > 10_000 => Err(ApiError::too_large(n, "maxItems", 10_000).into()),
        Some(n) => Ok(n as usize),
    }
}

/// Markers are opaque to clients; flint's encode the position reached.
pub(crate) fn encode_marker(name: &str, version: Option<&str>) -> String {
    let raw = format!("{name}\n{}", version.unwrap_or(""));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_marker(marker: &str) -> Result<(String, Option<String>)> {
    let invalid = || ApiError::InvalidParameterValue(format!("Invalid marker: {marker}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (name, version) = raw.split_once('\n').ok_or_else(invalid)?;
    Ok((
        name.to_string(),
        Some(version.to_string()).filter(|v| !v.is_empty()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ControlError;

    fn api(e: ControlError) -> ApiError {
        match e {
            ControlError::Api(a) => a,
            other => panic!("not a rejection: {other}"),
        }
    }

    #[test]
    fn max_items_is_one_to_ten_thousand() {
        assert_eq!(page_size(None).unwrap(), usize::MAX);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(page_size(Some(10_000)).unwrap(), 10_000);
        for bad in [0, -1, 10_001] {
            let e = api(page_size(Some(bad)).unwrap_err());
            assert!(matches!(e, ApiError::Validation(_)), "{bad}: {e:?}");
        }
    }

    #[test]
    fn markers_round_trip_the_position() {
        for (name, version) in [("f", None), ("f", Some("0000000003")), ("a-b_c", Some("1"))] {
            let marker = encode_marker(name, version);
            assert!(!marker.contains(name), "opaque: {marker}");
            assert_eq!(
                decode_marker(&marker).unwrap(),
                (name.to_string(), version.map(str::to_string))
            );
        }
        // An empty version is the function's $LATEST: no version.
        assert_eq!(
            decode_marker(&encode_marker("f", Some(""))).unwrap().1,
            None
        );
    }

    #[test]
    fn a_marker_flint_did_not_write_is_refused() {
        let no_newline = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("f");
        let not_utf8 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff, b'\n']);
        for bad in ["not base64!", no_newline.as_str(), not_utf8.as_str()] {
            let e = api(decode_marker(bad).unwrap_err());
            assert_eq!(
                e,
                ApiError::InvalidParameterValue(format!("Invalid marker: {bad}"))
            );
        }
    }
}
