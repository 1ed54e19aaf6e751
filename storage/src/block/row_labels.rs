//! Bitmap indexes stored as row labels (block format version 5 on).
//!
//! The bitmaps of one index family are disjoint: a row has one service, one span name, one
//! value per low-cardinality attribute key. Stored one bitmap per value, each value's rows
//! are scattered (rows are sorted by trace), so every bitmap pays for its own gaps. Stored
//! as the union of the rows plus, for each row of it, the index of its value ("label"),
//! the gaps are paid once and the labels repeat with the traces' structure, which zstd
//! finds (measured at 1M spans: footer service + name + attribute bitmaps, see
//! docs/ARCHITECTURE.md "Where the bytes go"). A family whose bitmaps overlap (a span
//! with a duplicated attribute key) is stored one bitmap per value, as before.
//!
//! The decoded form is the same `(value, bitmap)` lists as before: only bytes change.

use roaring::RoaringBitmap;

use super::footer::{
    bitmap_from_ascending, get_bitmap, get_bitmap_as, get_indexed_value, put_bitmap,
    put_indexed_value, AttrIndex, StoredBitmap,
};
use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};

/// Family encodings.
const LISTED: u8 = 0;
const LABELLED: u8 = 1;

/// Whether the bitmaps are pairwise disjoint (their lengths add up to their union's).
fn disjoint<'a>(bitmaps: impl Iterator<Item = &'a RoaringBitmap> + Clone) -> bool {
    let total: u64 = bitmaps.clone().map(RoaringBitmap::len).sum();
    let union = bitmaps.fold(RoaringBitmap::new(), |mut u, b| {
        u |= b;
        u
    });
    union.len() == total
}

/// Writes the union of disjoint `bitmaps` and each of its rows' bitmap index.
fn put_labels(enc: &mut Encoder, bitmaps: &[&RoaringBitmap]) {
    let mut labelled: Vec<(u32, u32)> = Vec::new();
    for (label, rows) in bitmaps.iter().enumerate() {
        labelled.extend(rows.iter().map(|r| (r, label as u32)));
    }
    labelled.sort_unstable();
    let union: RoaringBitmap = labelled.iter().map(|(r, _)| *r).collect();
    put_bitmap(enc, &union);
    for (_, label) in labelled {
        enc.put_varint(u64::from(label));
    }
}

/// Reads what [`put_labels`] wrote for `n` bitmaps.
fn get_labels(dec: &mut Decoder<'_>, n: usize) -> DecodeResult<Vec<RoaringBitmap>> {
    let union = get_bitmap_as(dec)?;
    // Each row's label takes at least a byte: a union with more rows than the bytes left
    // is corrupt (checked before anything is allocated for it: a roaring union of a few
    // bytes can hold four billion rows).
    let rows = match &union {
        StoredBitmap::Rows(rows) => rows.len() as u64,
        StoredBitmap::Roaring(b) => b.len(),
    };
    if rows > dec.remaining() as u64 {
        return Err(DecodeError::new(format!(
            "{rows} labelled rows but {} bytes left",
            dec.remaining()
        )));
    }
    let union = match union {
        StoredBitmap::Rows(rows) => rows,
        StoredBitmap::Roaring(b) => b.iter().collect(),
    };
    let mut labels: Vec<u32> = Vec::with_capacity(union.len());
    let mut counts = vec![0usize; n];
    for _ in 0..union.len() {
        let label = dec.get_varint()?;
        let count = usize::try_from(label)
            .ok()
            .and_then(|l| counts.get_mut(l))
            .ok_or_else(|| {
                DecodeError::new(format!("row label {label} out of range ({n} values)"))
            })?;
        *count += 1;
        // Below `n`, the number of values, itself below the bytes of the footer.
        labels.push(label as u32);
    }
    // A counting sort: each value's rows become one slice of `sorted` (ascending, as the
    // union is), built into a bitmap of exact size.
    let mut starts = Vec::with_capacity(n + 1);
    let mut at = 0;
    for c in &counts {
        starts.push(at);
        at += c;
    }
    starts.push(at);
    let mut next = starts.clone();
    let mut sorted = vec![0u32; union.len()];
    for (&row, &label) in union.iter().zip(&labels) {
        // `label < n` was checked above, and the slots of a label are counted exactly.
        if let Some(pos) = next.get_mut(label as usize) {
            if let Some(slot) = sorted.get_mut(*pos) {
                *slot = row;
            }
            *pos += 1;
        }
    }
    starts
        .iter()
        .zip(starts.iter().skip(1))
        .map(|(&from, &to)| bitmap_from_ascending(sorted.get(from..to).unwrap_or_default()))
        .collect()
}

/// `(dictionary id, rows)` lists (services, span names), sorted by id.
pub(crate) fn put_id_bitmaps(enc: &mut Encoder, list: &[(u32, RoaringBitmap)]) {
    enc.put_varint(list.len() as u64);
    for (id, _) in list {
        enc.put_varint(u64::from(*id));
    }
    if disjoint(list.iter().map(|(_, b)| b)) {
        enc.put_u8(LABELLED);
        put_labels(enc, &list.iter().map(|(_, b)| b).collect::<Vec<_>>());
    } else {
        enc.put_u8(LISTED);
        for (_, rows) in list {
            put_bitmap(enc, rows);
        }
    }
}

/// Reads what [`put_id_bitmaps`] wrote.
pub(crate) fn get_id_bitmaps(dec: &mut Decoder<'_>) -> DecodeResult<Vec<(u32, RoaringBitmap)>> {
    let n = dec.get_count()?;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(dec.get_varint32()?);
    }
    let bitmaps = get_family(dec, n)?;
    Ok(ids.into_iter().zip(bitmaps).collect())
}

fn get_family(dec: &mut Decoder<'_>, n: usize) -> DecodeResult<Vec<RoaringBitmap>> {
    match dec.get_u8()? {
        LABELLED => get_labels(dec, n),
        LISTED => (0..n).map(|_| get_bitmap(dec)).collect(),
        t => Err(DecodeError::new(format!(
            "unknown bitmap family encoding {t}"
        ))),
    }
}

/// The attribute value index (sorted by key, then value) as one family per key, and the
/// unindexed keys.
pub(crate) fn put_attr_index(enc: &mut Encoder, attr_rows: &[AttrIndex], unindexed: &[u32]) {
    let families: Vec<&[AttrIndex]> = attr_rows.chunk_by(|a, b| a.key == b.key).collect();
    enc.put_varint(families.len() as u64);
    for family in families {
        let key = family.first().map_or(0, |a| a.key);
        enc.put_varint(u64::from(key));
        enc.put_varint(family.len() as u64);
        for a in family {
            put_indexed_value(enc, &a.value);
        }
        if disjoint(family.iter().map(|a| &a.rows)) {
            enc.put_u8(LABELLED);
            put_labels(enc, &family.iter().map(|a| &a.rows).collect::<Vec<_>>());
        } else {
            enc.put_u8(LISTED);
            for a in family {
                put_bitmap(enc, &a.rows);
            }
        }
    }
    enc.put_varint(unindexed.len() as u64);
    for k in unindexed {
        enc.put_varint(u64::from(*k));
    }
}

/// Reads what [`put_attr_index`] wrote.
pub(crate) fn get_attr_index(dec: &mut Decoder<'_>) -> DecodeResult<(Vec<AttrIndex>, Vec<u32>)> {
    let mut attr_rows = Vec::new();
    for _ in 0..dec.get_count()? {
        let key = dec.get_varint32()?;
        let n = dec.get_count()?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(get_indexed_value(dec)?);
        }
        let bitmaps = get_family(dec, n)?;
        attr_rows.extend(
            values
                .into_iter()
                .zip(bitmaps)
                .map(|(value, rows)| AttrIndex { key, value, rows }),
        );
    }
    attr_rows.shrink_to_fit();
    let mut unindexed = Vec::new();
    for _ in 0..dec.get_count()? {
        unindexed.push(dec.get_varint32()?);
    }
    Ok((attr_rows, unindexed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::footer::IndexedValue;
    use proptest::prelude::*;

    fn bitmaps() -> impl Strategy<Value = Vec<RoaringBitmap>> {
        // Rows drawn from a small range so that families are sometimes disjoint (one label
        // per row) and sometimes overlap.
        let disjoint = proptest::collection::vec(0u32..6, 0..300).prop_map(|labels| {
            let mut out = vec![RoaringBitmap::new(); 6];
            for (row, l) in labels.iter().enumerate() {
                if let Some(b) = out.get_mut(*l as usize) {
                    // Row numbers with gaps and a large offset, like a block's later rows.
                    b.insert(70_000 + row as u32 * 3);
                }
            }
            out
        });
        let overlapping = proptest::collection::vec(
            proptest::collection::btree_set(0u32..200_000, 0..50)
                .prop_map(|rows| rows.into_iter().collect::<RoaringBitmap>()),
            0..5,
        );
        prop_oneof![disjoint, overlapping]
    }

    proptest! {
        #[test]
        fn id_bitmaps_round_trip(family in bitmaps()) {
            let list: Vec<(u32, RoaringBitmap)> =
                family.into_iter().enumerate().map(|(i, b)| (i as u32 * 7, b)).collect();
            let mut enc = Encoder::new();
            put_id_bitmaps(&mut enc, &list);
            let mut dec = Decoder::new(&enc.buf);
            prop_assert_eq!(get_id_bitmaps(&mut dec).unwrap(), list);
            prop_assert!(dec.is_empty());
        }

        #[test]
        fn attr_index_round_trips(families in proptest::collection::vec(bitmaps(), 0..4), unindexed in proptest::collection::vec(any::<u32>(), 0..4)) {
            let mut attr_rows = Vec::new();
            for (k, family) in families.into_iter().enumerate() {
                for (v, rows) in family.into_iter().enumerate() {
                    let value = match v % 3 {
                        0 => IndexedValue::Str(v as u32),
                        1 => IndexedValue::Int(-(v as i64) * 1_000_000_007),
                        _ => IndexedValue::Bool(v % 2 == 0),
                    };
                    attr_rows.push(AttrIndex { key: k as u32, value, rows });
                }
            }
            let mut enc = Encoder::new();
            put_attr_index(&mut enc, &attr_rows, &unindexed);
            let mut dec = Decoder::new(&enc.buf);
            let (rows, keys) = get_attr_index(&mut dec).unwrap();
            prop_assert_eq!(rows, attr_rows);
            prop_assert_eq!(keys, unindexed);
            prop_assert!(dec.is_empty());
        }

        #[test]
        fn bitmaps_built_from_ascending_rows_equal_roarings_own(
            rows in proptest::collection::btree_set(0u32..300_000, 0..12_000),
            dense_from in 0u32..4,
        ) {
            // Some containers past roaring's array limit (a dense run of 70,000 rows), others
            // sparse, so both container kinds go through the portable format.
            let mut rows: std::collections::BTreeSet<u32> = rows;
            rows.extend((dense_from * 65_536)..(dense_from * 65_536 + 70_000));
            let rows: Vec<u32> = rows.into_iter().collect();
            let built = bitmap_from_ascending(&rows).unwrap();
            let expected = RoaringBitmap::from_sorted_iter(rows.iter().copied()).unwrap();
            prop_assert_eq!(&built, &expected);
            prop_assert_eq!(built.len(), rows.len() as u64);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = get_id_bitmaps(&mut Decoder::new(&bytes));
            let _ = get_attr_index(&mut Decoder::new(&bytes));
        }
    }

    #[test]
    fn a_union_claiming_more_rows_than_bytes_left_is_an_error() {
        // One value, its union stored in roaring's format (100,000 rows in two bitset
        // containers), and no labels after it.
        let union: RoaringBitmap = (0..100_000u32).collect();
        let mut enc = Encoder::new();
        enc.put_varint(1);
        enc.put_varint(7);
        enc.put_u8(LABELLED);
        put_bitmap(&mut enc, &union);
        let err = get_id_bitmaps(&mut Decoder::new(&enc.buf)).unwrap_err();
        assert!(err.to_string().contains("labelled rows"), "{err}");
    }

    #[test]
    fn a_roaring_bitmap_with_run_containers_is_refused() {
        // A run container: a handful of bytes that would expand to 65,536 rows.
        let mut runs = RoaringBitmap::new();
        runs.insert_range(0..65_536);
        let mut bytes = Vec::new();
        // Cookie with runs; its high 16 bits are the container count minus one.
        bytes.extend_from_slice(&12347u32.to_le_bytes());
        bytes.push(1); // container 0 is a run container
        bytes.extend_from_slice(&0u16.to_le_bytes()); // key
        bytes.extend_from_slice(&65_535u16.to_le_bytes()); // cardinality - 1
        bytes.extend_from_slice(&1u16.to_le_bytes()); // one run
        bytes.extend_from_slice(&0u16.to_le_bytes()); // from 0
        bytes.extend_from_slice(&65_535u16.to_le_bytes()); // length - 1
        assert_eq!(RoaringBitmap::deserialize_from(&bytes[..]).unwrap(), runs);
        let mut enc = Encoder::new();
        enc.put_u8(1); // BITMAP_ROARING
        enc.put_bytes(&bytes);
        assert!(get_bitmap(&mut Decoder::new(&enc.buf)).is_err());
    }

    #[test]
    fn rows_out_of_order_are_an_error() {
        assert!(bitmap_from_ascending(&[3, 2]).is_err());
        assert!(bitmap_from_ascending(&[5, 5]).is_err());
        assert_eq!(bitmap_from_ascending(&[]).unwrap(), RoaringBitmap::new());
    }

    #[test]
    fn a_partition_of_the_rows_is_labelled_and_an_overlap_is_listed() {
        let a: RoaringBitmap = [0u32, 2, 4].into_iter().collect();
        let b: RoaringBitmap = [1u32, 3].into_iter().collect();
        let mut enc = Encoder::new();
        put_id_bitmaps(&mut enc, &[(1, a.clone()), (2, b.clone())]);
        assert_eq!(enc.buf.get(3), Some(&LABELLED));
        let overlap: RoaringBitmap = [2u32, 5].into_iter().collect();
        let mut enc = Encoder::new();
        put_id_bitmaps(&mut enc, &[(1, a), (2, overlap)]);
        assert_eq!(enc.buf.get(3), Some(&LISTED));
    }
}
