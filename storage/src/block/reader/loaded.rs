//! A decoded footer as the footer cache holds it: the footer, its dictionary lookup, the
//! per-(service, name, minute) rollup kept encoded until a query asks for it, and the rollup
//! pre-merged per (service, minute) (each built at the first query that needs it, then
//! counted in the cache), with an estimate of the heap bytes they take.
//!
//! The estimate follows the allocations the decoder makes (vector capacities, string bytes,
//! B-tree nodes, roaring containers); `storage/tests/footer_cache_estimates_match_allocations`
//! checks it against a counting allocator (docs/ARCHITECTURE.md, "Memory").

use std::mem::size_of;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, Weak};

use roaring::RoaringBitmap;

use crate::block::cache::{FooterCache, HeapSize};
use crate::block::footer::{AttrIndex, Footer, RowGroup, TraceEntry};
use crate::codec::buf::Decoder;
use crate::codec::value::dict_str;
use crate::edges::{EdgeCell, EdgeKey, EdgeRollup, LooseEnd};
use crate::error::Result;
use crate::model::{KeyValue, Value};
use crate::rollup::{Rollup, RollupCell, RollupKey, ServiceCell, ServiceRollup};

/// A decoded block footer; derefs to the [`Footer`], except for its per-operation rollup:
/// the footer's `rollup` field is left empty, read it with [`LoadedFooter::rollup`].
#[derive(Debug)]
pub struct LoadedFooter {
    footer: Footer,
    /// The per-(service, name, minute) rollup, encoded: decoded it took 7.6x its encoded
    /// size (67.8 MB against 8.9 MB for the 76 footers of 10M spans), and RED by service,
    /// the common query, needs only `service_rollup`.
    rollup_bytes: Vec<u8>,
    /// Decoded from `rollup_bytes` at the first [`Self::rollup`] call.
    rollup: OnceLock<Rollup>,
    /// Dictionary ids ordered by their string, for [`Self::string_id`]'s binary search: four
    /// bytes per string. (A `HashMap<String, u32>` held a second copy of every string, 61.9 MB
    /// for the 76 footers of a 10M-span database against 34.7 MB for the strings themselves.)
    ids_by_string: Vec<u32>,
    /// Built at first use: most queries never read it.
    service_rollup: OnceLock<ServiceRollup>,
    path: PathBuf,
    heap_bytes: usize,
    /// The cache (and key) holding this footer, told when `service_rollup` is built.
    cache: Option<(Weak<FooterCache<LoadedFooter>>, u64)>,
}

impl Deref for LoadedFooter {
    type Target = Footer;
    fn deref(&self) -> &Footer {
        &self.footer
    }
}

impl LoadedFooter {
    /// Indexes the dictionary. `cache` is where this footer will be held (under the key),
    /// told of the bytes the per-(service, minute) rollup adds when a query builds it.
    #[cfg(test)]
    pub(crate) fn new(
        footer: Footer,
        path: &Path,
        cache: Option<(Weak<FooterCache<LoadedFooter>>, u64)>,
    ) -> Self {
        let mut footer = footer;
        let mut enc = crate::codec::buf::Encoder::new();
        std::mem::take(&mut footer.rollup).encode(&mut enc);
        Self::with_encoded_rollup(footer, enc.buf, path, cache)
    }

    /// A footer decoded with its per-operation rollup left as stored
    /// ([`Footer::decode_rollup_encoded`]): `footer.rollup` is empty, `rollup_bytes` hold it.
    pub(crate) fn with_encoded_rollup(
        footer: Footer,
        rollup_bytes: Vec<u8>,
        path: &Path,
        cache: Option<(Weak<FooterCache<LoadedFooter>>, u64)>,
    ) -> Self {
        let mut rollup_bytes = rollup_bytes;
        rollup_bytes.shrink_to_fit();
        let mut ids_by_string: Vec<u32> = (0..footer.dict.len() as u32).collect();
        let dict = &footer.dict;
        ids_by_string.sort_unstable_by(|&a, &b| {
            let (a, b) = (dict.get(a as usize), dict.get(b as usize));
            a.cmp(&b)
        });
        let mut loaded = LoadedFooter {
            footer,
            ids_by_string,
            rollup_bytes,
            rollup: OnceLock::new(),
            service_rollup: OnceLock::new(),
            path: path.to_owned(),
            heap_bytes: 0,
            cache,
        };
        loaded.heap_bytes = loaded.estimate_heap_bytes();
        loaded
    }

    /// The dictionary id of `s` in this block, if the block contains it.
    pub fn string_id(&self, s: &str) -> Option<u32> {
        let dict = &self.footer.dict;
        self.ids_by_string
            .binary_search_by(|&id| dict.get(id as usize).map_or("", String::as_str).cmp(s))
            .ok()
            .and_then(|i| self.ids_by_string.get(i).copied())
    }

    /// The dictionary string with id `id`.
    pub fn string(&self, id: u32) -> Result<&str> {
        dict_str(&self.footer.dict, u64::from(id)).map_err(|e| e.in_file(&self.path))
    }

    /// The trace (index into `traces`) that block row `row` belongs to.
    pub fn trace_of_row(&self, row: u32) -> Option<usize> {
        let f = &self.footer;
        (row < f.rows).then(|| {
            f.trace_first_row
                .partition_point(|&r| r <= row)
                .saturating_sub(1)
        })
    }

    /// Block rows of trace number `t` (an index into `traces`).
    pub fn trace_rows(&self, t: usize) -> Option<std::ops::Range<u32>> {
        let f = &self.footer;
        let start = *f.trace_first_row.get(t)?;
        Some(start..start + f.traces.get(t)?.rows)
    }

    /// The footer's per-(service, name, minute) rollup, decoded at the first call and from
    /// then on counted in the cache's budget.
    pub fn rollup(&self) -> &Rollup {
        let mut built = false;
        let rollup = self.rollup.get_or_init(|| {
            built = true;
            self.decode_rollup()
        });
        if built {
            self.grow(rollup_bytes(rollup));
        }
        rollup
    }

    /// The footer's rollup pre-merged per (service, minute), built at the first call (from
    /// the decoded rollup if a query already asked for it, else from a decoding dropped
    /// right after) and from then on counted in the cache's budget.
    pub fn service_rollup(&self) -> &ServiceRollup {
        let mut built = false;
        let rollup = self.service_rollup.get_or_init(|| {
            built = true;
            match self.rollup.get() {
                Some(r) => ServiceRollup::of(r),
                None => ServiceRollup::of(&self.decode_rollup()),
            }
        });
        if built {
            self.grow(service_rollup_bytes(rollup));
        }
        rollup
    }

    /// The block's edge rollup with its per-edge totals computed (once; from then on counted
    /// in the cache's budget), for a service graph; `None` for a format version 1 block.
    pub fn edges_with_totals(&self) -> Option<&EdgeRollup> {
        let edges = self.footer.edges.as_ref()?;
        if edges.totals_once().1 {
            self.grow(edges.totals_heap_bytes());
        }
        Some(edges)
    }

    /// `rollup_bytes` decoded. The footer decoder checked them ([`Rollup::skip`] reads what
    /// [`Rollup::decode`] reads, with the same checks), so decoding them cannot fail short
    /// of a bug; were it to, the rollup reads as empty rather than panicking in a query.
    fn decode_rollup(&self) -> Rollup {
        let decoded = Rollup::decode(&mut Decoder::new(&self.rollup_bytes));
        debug_assert!(decoded.is_ok(), "a rollup checked at load decodes");
        decoded.unwrap_or_default()
    }

    /// Tells the cache holding this footer (if any) that a lazily built part added `bytes`.
    fn grow(&self, bytes: usize) {
        if let Some((cache, key)) = &self.cache {
            if let Some(cache) = cache.upgrade() {
                cache.grow(*key, self, bytes);
            }
        }
    }

    fn estimate_heap_bytes(&self) -> usize {
        let f = &self.footer;
        size_of::<Self>()
            + strings(&f.dict)
            + vec_of(&self.ids_by_string)
            + vec_of(&f.resources)
            + f.resources
                .iter()
                .map(|r| {
                    arc_box::<crate::model::Resource>()
                        + kvs(&r.attributes)
                        + r.schema_url.capacity()
                })
                .sum::<usize>()
            + vec_of(&f.scopes)
            + f.scopes
                .iter()
                .map(|s| {
                    arc_box::<crate::model::Scope>()
                        + s.name.capacity()
                        + s.version.capacity()
                        + kvs(&s.attributes)
                        + s.schema_url.capacity()
                })
                .sum::<usize>()
            + vec_of::<RowGroup>(&f.groups)
            + vec_of::<TraceEntry>(&f.traces)
            + vec_of(&f.trace_first_row)
            + vec_of(&f.service_rows)
            + f.service_rows.iter().map(|(_, b)| bitmap(b)).sum::<usize>()
            + vec_of(&f.name_rows)
            + f.name_rows.iter().map(|(_, b)| bitmap(b)).sum::<usize>()
            + bitmap(&f.error_rows)
            + vec_of::<AttrIndex>(&f.attr_rows)
            + f.attr_rows.iter().map(|a| bitmap(&a.rows)).sum::<usize>()
            + vec_of(&f.unindexed_keys)
            + self.rollup_bytes.capacity()
            + f.edges.as_ref().map_or(0, edges)
    }
}

impl HeapSize for LoadedFooter {
    /// The estimate made at decoding, plus the decoded rollup and the per-(service, minute)
    /// rollup once built.
    fn heap_bytes(&self) -> usize {
        self.heap_bytes
            + self.rollup.get().map_or(0, rollup_bytes)
            + self.service_rollup.get().map_or(0, service_rollup_bytes)
            + self
                .footer
                .edges
                .as_ref()
                .map_or(0, EdgeRollup::totals_heap_bytes)
    }
}

/// Heap bytes of a per-(service, minute) rollup: its cells and their shared sketch counts
/// (an `Arc<[u32]>`: the counts and two counters).
fn service_rollup_bytes(r: &ServiceRollup) -> usize {
    vec_of::<ServiceCell>(&r.cells)
        + r.cells
            .iter()
            .map(|c| c.durations.heap_bytes() + 16)
            .sum::<usize>()
}

fn vec_of<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// An `Arc<T>` allocation: the value and two counters.
fn arc_box<T>() -> usize {
    size_of::<T>() + 16
}

fn strings(v: &Vec<String>) -> usize {
    vec_of(v) + v.iter().map(String::capacity).sum::<usize>()
}

/// A B-tree map of `len` entries: nodes of up to 11 entries, about 2/3 full when built by
/// insertion in order; each node also holds its length, parent link and (inner nodes) edges.
fn btree<K, V>(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let node = 11 * (size_of::<K>() + size_of::<V>()) + 16;
    let nodes = len.div_ceil(7);
    nodes * node + (nodes / 6) * 12 * size_of::<usize>()
}

/// Roaring: one container per 65536-row chunk (key, length and a vector), holding two bytes
/// per row (array), 8 KiB (bitmap) or four bytes per run.
fn bitmap(b: &RoaringBitmap) -> usize {
    // The portable serialized size has the same payload per container plus a small header.
    b.serialized_size() + 32
}

fn kvs(v: &Vec<KeyValue>) -> usize {
    vec_of(v)
        + v.iter()
            .map(|kv| kv.key.capacity() + value(&kv.value))
            .sum::<usize>()
}

fn value(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.capacity(),
        Value::Bytes(b) => b.capacity(),
        Value::Array(a) => vec_of(a) + a.iter().map(value).sum::<usize>(),
        Value::KvList(l) => kvs(l),
        Value::Empty | Value::Int(_) | Value::Double(_) | Value::Bool(_) => 0,
    }
}

fn rollup_bytes(r: &Rollup) -> usize {
    btree::<RollupKey, RollupCell>(r.cells.len())
        + r.cells
            .values()
            .map(|c| c.durations.heap_bytes())
            .sum::<usize>()
}

fn edges(e: &EdgeRollup) -> usize {
    btree::<(EdgeKey, u64), EdgeCell>(e.cells.len())
        + e.cells
            .iter()
            .map(|((k, _), c)| {
                k.client.capacity()
                    + k.server.capacity()
                    + c.client.heap_bytes()
                    + c.server.heap_bytes()
            })
            .sum::<usize>()
        + vec_of::<LooseEnd>(&e.loose)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer_with(dict: &[&str]) -> Footer {
        let mut rollup = Rollup::default();
        for (i, d) in [(1u32, 5_000u64), (2, 70_000), (1, 1_000_000)] {
            let key = RollupKey {
                service: i,
                name: 3 - i,
                minute: 28_000_000 + u64::from(i),
            };
            rollup.add(key, d, d > 100_000);
        }
        Footer {
            dict: dict.iter().map(|s| (*s).to_owned()).collect(),
            rollup,
            ..Footer::default()
        }
    }

    #[test]
    fn every_dictionary_string_finds_its_id_and_others_find_none() {
        // Ids in no particular order of their strings, some sharing prefixes.
        let dict = ["", "zeta", "alpha", "alphabet", "m", "alp", "Zeta", "é"];
        let loaded = LoadedFooter::new(footer_with(&dict), Path::new("t"), None);
        for (id, s) in dict.iter().enumerate() {
            assert_eq!(loaded.string_id(s), Some(id as u32), "{s:?}");
        }
        for missing in ["alph", "zeta ", "b", "ALPHA", "\u{0}"] {
            assert_eq!(loaded.string_id(missing), None, "{missing:?}");
        }
    }

    #[test]
    fn the_rollup_kept_encoded_decodes_to_the_footers_rollup() {
        let footer = footer_with(&["", "a", "b"]);
        let original = footer.rollup.clone();
        let loaded = LoadedFooter::new(footer, Path::new("t"), None);
        assert!(loaded.footer.rollup.cells.is_empty(), "not kept decoded");
        let before = loaded.heap_bytes();
        // The service rollup is built without keeping the per-operation one.
        assert_eq!(loaded.service_rollup().cells.len(), 2);
        assert!(loaded.rollup.get().is_none());
        assert_eq!(loaded.rollup(), &original);
        assert!(
            loaded.heap_bytes() > before,
            "the decoded rollup is counted"
        );
        assert_eq!(
            loaded.service_rollup().cells.len(),
            ServiceRollup::of(&original).cells.len()
        );
    }
}
